"""The JSON bodies the Hub answers, built from a served folder: model info and tree listings.

Pure functions of a :class:`~hgloc.serve._catalog.Snapshot` (and the card's
text) over :mod:`hgloc.hub_wire`'s documents: no I/O.
"""

from __future__ import annotations

import datetime as dt

from hgloc import hub_wire
from hgloc.hub_wire import ModelFacts, dumps
from hgloc.serve._catalog import Snapshot

__all__ = ["hub_time", "model_info", "tree_listing"]


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


def model_info(snap: Snapshot, *, card: str | None, config: bytes | None, blobs: bool) -> bytes:
    """The body of ``GET /api/models/{id}[/revision/{rev}]`` for ``snap``.

    ``siblings`` lists what the folder holds: the whole repo for a full model,
    the card and config for a metadata-only one. ``blobs`` adds sizes and hashes.
    """
    # The store knows when the model was cached, not when it was committed.
    when = hub_time(snap.record.cached_timestamp)
    facts = ModelFacts(
        snap.model_id,
        snap.commit,
        [file.wire for file in snap.files.values()],
        card=card,
        config=config,
        last_modified=when,
        created_at=when,
    )
    return dumps(hub_wire.model_info(facts, blobs=blobs))


def tree_listing(snap: Snapshot, path: str, *, recursive: bool) -> bytes | None:
    """The body of ``GET /api/models/{id}/tree/{rev}/{path}``; ``None`` if ``path`` is no folder."""
    files = {file.path: file.wire for file in snap.files.values()}
    listing = hub_wire.tree_listing(files, path, recursive=recursive)
    return None if listing is None else dumps(listing)
