"""The JSON bodies the Hub answers, built from a served folder: model info and tree listings.

Pure functions of a :class:`~hgloc.serve._catalog.Snapshot` (and the card's
text) over :mod:`hgloc.hub_wire`'s documents: no I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hgloc import hub_wire
from hgloc.hub_wire import ModelFacts, WireFile, dumps
from hgloc.serve._access import PUBLIC, Visibility
from hgloc.serve._catalog import Snapshot

__all__ = ["facts_of", "hub_time", "model_info", "tree_listing", "wire_files"]


def hub_time(timestamp: str | None) -> str | None:
    """An ISO timestamp in the Hub's format (``2024-05-01T12:00:00.000Z``), or ``None``."""
    if not timestamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def facts_of(
    snap: Snapshot,
    *,
    card: str | None = None,
    config: bytes | None = None,
    visibility: Visibility = PUBLIC,
) -> ModelFacts:
    """What the store knows of ``snap``, for the Hub's documents.

    The id is the repo's current name on the Hub when the store saw it renamed.
    """
    # The store knows when the model was cached, not when it was committed.
    when = hub_time(snap.record.cached_timestamp)
    return ModelFacts(
        snap.record.resolved_repo_id or snap.model_id,
        snap.commit,
        [file.wire for file in snap.files.values()],
        card=card,
        config=config,
        private=visibility.private,
        gated=visibility.gated,
        last_modified=when,
        created_at=when,
    )


def model_info(
    snap: Snapshot,
    *,
    card: str | None,
    config: bytes | None,
    blobs: bool,
    visibility: Visibility = PUBLIC,
) -> bytes:
    """The body of ``GET /api/models/{id}[/revision/{rev}]`` for ``snap``.

    ``siblings`` lists what the folder holds: the whole repo for a full model,
    the card and config for a metadata-only one. ``blobs`` adds sizes and hashes.
    ``private`` and ``gated`` are what the upstream said (pull-through), else false.
    """
    facts = facts_of(snap, card=card, config=config, visibility=visibility)
    return dumps(hub_wire.model_info(facts, blobs=blobs))


def wire_files(snap: Snapshot) -> dict[str, WireFile]:
    """The folder's files as the Hub describes them, by repo path."""
    return {file.path: file.wire for file in snap.files.values()}


def tree_listing(snap: Snapshot, path: str, *, recursive: bool) -> list[dict[str, Any]] | None:
    """The entries of ``GET /api/models/{id}/tree/{rev}/{path}``; ``None``: no such folder."""
    return hub_wire.tree_listing(wire_files(snap), path, recursive=recursive)
