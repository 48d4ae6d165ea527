"""The read path's tiers wrapped so what they store shares unchanged files with other revisions.

See :mod:`hgloc.store._links`: on a local store, a file a sibling revision holds
with the same size and hash becomes a hard link to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from hgloc.backends import LocalPaths, StorageBackend
from hgloc.localize._read_path import Lookup, Tier
from hgloc.localize._results import ModelResult, Status
from hgloc.store import ModelStore
from hgloc.store._links import share_unchanged

__all__ = ["SharedFiles", "sharing_tiers"]


class SharedFiles:
    """A tier wrapped so a model it stores shares unchanged files with its other revisions."""

    def __init__(self, tier: Tier, backend: StorageBackend) -> None:
        self.tier = tier
        self.backend = backend

    async def get(self, lookup: Lookup) -> ModelResult | None:
        result = await self.tier.get(lookup)
        if result is not None and result.status is Status.FETCHED:
            # The record the tier saved, when it says so: re-reading it costs a thread hop.
            record = lookup.saved[-1] if lookup.saved else None
            if record is None:
                record = await ModelStore(self.backend).load(lookup.prefix)
            if record is not None:
                await share_unchanged(self.backend, lookup.prefix, record)
        return result


def sharing_tiers(tiers: Sequence[Tier], backend: StorageBackend) -> list[Tier]:
    """``tiers`` with those that store new files wrapped in :class:`SharedFiles`.

    Only a local store can share; elsewhere the tiers are returned as they are.
    """
    if not isinstance(backend, LocalPaths):
        return list(tiers)
    return [SharedFiles(t, backend) for t in tiers]
