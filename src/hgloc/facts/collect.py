"""Facts of stored model folders: read what they hold, compute, keep the index current.

The index is brought up to date lazily: folders whose metadata file changed
(or that the index has never seen) are read again, folders gone are dropped.
Nothing here talks to the Hub: weights of a metadata-only model are counted
only once :mod:`hgloc.facts.hub_params` stored their headers beside it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import Any

import anyio

from hgloc._aio import task_group
from hgloc.facts import _store
from hgloc.facts._store import FactsStore
from hgloc.facts.derived import model_facts
from hgloc.facts.index import FactsIndex, IndexRow
from hgloc.facts.safetensors_header import (
    INDEX_FILE,
    LENGTH_PREFIX,
    HeaderError,
    TensorCounts,
    header_length,
    parse_header,
    shard_names,
    sum_counts,
    weight_files,
)
from hgloc.facts.sidecar import sidecar_counts
from hgloc.layout import CONFIG_FILE, ModelRecord

__all__ = ["index_folder", "refresh", "stored_counts"]

logger = logging.getLogger("hgloc")

_BATCH = 256  # folders read and written to the index per transaction
_READS = 16  # folders read at once


async def stored_counts(loc: FactsStore, prefix: str, record: ModelRecord) -> TensorCounts | None:
    """Tensor counts from a full model's own safetensors files (headers only), else ``None``."""
    first = weight_files(record.files)
    if first is None:
        return None
    names = [first]
    if first == INDEX_FILE:
        index = await _store.read(loc, f"{prefix}/{INDEX_FILE}")
        if index is None:
            return None
        names = shard_names(index)
        if not all(n in record.files for n in names):
            return None  # a partial download (--include): the count would be short
    counts = []
    for name in names:
        key = f"{prefix}/{name}"
        length = header_length(await _store.read_range(loc, key, 0, LENGTH_PREFIX))
        header = await _store.read_range(loc, key, LENGTH_PREFIX, LENGTH_PREFIX + length)
        if len(header) != length:
            raise HeaderError(f"{name}: the file ends inside its header")
        counts.append(parse_header(header))
    return sum_counts(counts)


async def _counts(loc: FactsStore, prefix: str, record: ModelRecord) -> TensorCounts | None:
    try:
        if record.is_full_model:
            return await stored_counts(loc, prefix, record)
        data = await _store.read(loc, f"{prefix}/{_store.SAFETENSORS_FILE}")
        return None if data is None else sidecar_counts(data, record.commit)[1]
    except HeaderError as exc:
        logger.warning("%s: weights not counted: %s", _store.location(loc, prefix), exc)
        return None


async def _config(loc: FactsStore, prefix: str, record: ModelRecord) -> dict[str, Any] | None:
    if not record.has_config:
        return None
    data = await _store.read(loc, f"{prefix}/{CONFIG_FILE}")
    try:
        parsed = json.loads(data) if data is not None else None
    except (ValueError, RecursionError):
        logger.warning("%s: config.json does not parse", _store.location(loc, prefix))
        return None
    return parsed if isinstance(parsed, dict) else None


async def _row(
    loc: FactsStore, scope: str, prefix: str, stamp: str, record: ModelRecord
) -> IndexRow:
    facts = model_facts(await _config(loc, prefix, record), await _counts(loc, prefix, record))
    return IndexRow(prefix, scope, record.model_id, record.revision, record.commit, stamp, facts)


async def _read_batch(loc: FactsStore, scope: str, stamps: dict[str, str]) -> list[IndexRow]:
    records = await _store.read_records(loc, stamps)
    rows: list[IndexRow] = []
    limiter = anyio.CapacityLimiter(_READS)

    async def one(prefix: str, record: ModelRecord) -> None:
        async with limiter:
            rows.append(await _row(loc, scope, prefix, stamps[prefix], record))

    async with task_group() as tg:
        for prefix, record in records.items():
            tg.start_soon(one, prefix, record)
    return rows


async def refresh(loc: FactsStore, index: FactsIndex, *, force: Collection[str] = ()) -> int:
    """Bring the index up to date with the store for the localizer's bucket setting.

    ``force``: folders to read again even if their metadata did not change
    (their header summary was just stored). Returns the number of folders read.
    """
    read = 0
    for scope in _store.scopes(loc):
        on_disk = await _store.folder_stamps(loc, scope)
        known = await index.stamps(scope)
        gone = [p for p in known if p not in on_disk]
        todo = [p for p, s in on_disk.items() if known.get(p) != s or p in force]
        await index.apply([], gone)
        for start in range(0, len(todo), _BATCH):
            batch = todo[start : start + _BATCH]
            rows = await _read_batch(loc, scope, {p: on_disk[p] for p in batch})
            # folders without a usable metadata file are not models: drop stale rows
            have = {r.prefix for r in rows}
            await index.apply(rows, [p for p in batch if p not in have and p in known])
            read += len(batch)
    return read


async def index_folder(loc: FactsStore, index: FactsIndex, prefix: str, scope: str) -> bool:
    """Read one model folder into the index now (a model just stored); ``False`` when the
    folder holds no model or the store is not a folder store (its index is built lazily)."""
    stamp = await _store.folder_stamp(loc, prefix)
    if stamp is None:
        return False
    record = (await _store.read_records(loc, [prefix])).get(prefix)
    if record is None:
        return False
    await index.apply([await _row(loc, scope, prefix, stamp, record)], [])
    return True
