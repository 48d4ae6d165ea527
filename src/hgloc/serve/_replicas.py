"""Pull-through across replicas: several ``hgloc serve --s3`` over one bucket fetch a model once.

Within a process, requests for one model already queue on one lock
(:mod:`hgloc.serve._upstream`). Across processes the bucket arbitrates: the
replica that takes the model's lease (:class:`hgloc.bucket.Leases`) fetches it
from the Hub and publishes it (metadata object last, after a fencing check);
the others poll the bucket with backoff until the model is there, then serve
it from the bucket. If the holder dies, its lease expires and a waiter takes
it over and completes the model.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from hgloc.bucket import Leases
from hgloc.hub_wire import DEFAULT_BRANCH
from hgloc.serve._catalog import Catalog, Snapshot

if TYPE_CHECKING:
    from hgloc.localize import Localizer

_W = TypeVar("_W")
_W_in = TypeVar("_W_in", contravariant=True)


class PullThrough(Protocol[_W_in]):
    """What of :class:`~hgloc.serve._upstream.Upstream` this module uses."""

    localizer: Localizer
    catalog: Catalog
    bucket: bool

    def wants_fetch(self, snap: Snapshot | None, want: _W_in) -> bool: ...


__all__ = ["HOLDER", "PullThrough", "across_replicas"]

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
"""How this process names itself in the leases it takes."""


async def across_replicas(
    upstream: PullThrough[_W],
    model_id: str,
    revision: str,
    want: _W,
    fetch: Callable[[str, str, _W], Awaitable[None]],
) -> None:
    """Run ``fetch(model_id, revision, want)`` once across the replicas sharing the bucket.

    Without a bucket (a local store) this is ``fetch`` itself.
    """
    tier = await upstream.localizer.bucket() if upstream.bucket else None
    if tier is None:
        await fetch(model_id, revision, want)
        return
    catalog = upstream.catalog
    requested = None if revision == DEFAULT_BRANCH else revision

    async def done() -> bool:
        catalog.forget(model_id)  # what another replica published is seen at once
        return not upstream.wants_fetch(await catalog.find(model_id, revision), want)

    async def work() -> None:
        await fetch(model_id, revision, want)

    await Leases(tier.backend, holder=HOLDER).exclusive(
        tier.folder(model_id, requested), work, done
    )
