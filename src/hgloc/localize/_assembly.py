"""The read path as a localizer assembles it: which tiers, in which order, with which hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from hgloc.bucket import BucketAccess
from hgloc.localize._hub_metadata import HubClient
from hgloc.localize._local import LocalStore
from hgloc.localize._read_path import (
    BucketCopy,
    HubTier,
    OwnCopy,
    PublicCopy,
    ReadPath,
    StoredElsewhere,
    Tier,
)
from hgloc.localize._request import ModelRequest
from hgloc.localize._shared_files import sharing_tiers
from hgloc.transfer import TransferSettings

if TYPE_CHECKING:
    from hgloc.backends import StorageBackend

__all__ = ["assemble_read_path"]


def assemble_read_path(
    local: LocalStore,
    hub: HubClient,
    bucket: BucketAccess,
    backend: StorageBackend,
    *,
    transfer: TransferSettings,
    concurrency: int,
    on_stored: Callable[[ModelRequest], Awaitable[None]],
) -> ReadPath:
    """Own folder → public copy → another folder of the store → team bucket → Hub.

    Files a sibling revision already holds are shared (``sharing_tiers``), and
    ``on_stored`` runs after a tier stored a model (the facts index).
    """
    # Full models: one pool of request slots for every file and byte range.
    slots = anyio.Semaphore(concurrency)
    hub_tier = HubTier(
        local, hub, transfer=transfer, slots=slots, has_bucket=lambda: bool(local.bucket_folder)
    )
    tiers: list[Tier] = [
        OwnCopy(local),
        PublicCopy(local),
        StoredElsewhere(local),
        BucketCopy(local, bucket),
        hub_tier,
    ]
    return ReadPath(local, sharing_tiers(tiers, backend), on_stored=on_stored)
