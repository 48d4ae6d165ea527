"""Tensor counts of a model the store keeps without its weights, read from the Hub's headers.

Only the safetensors headers travel: a ``Range`` request for a file's first
bytes (which usually hold the whole header), a second one when the header is
longer. Sharded models are found through ``model.safetensors.index.json``.
Every request goes through hgloc's Hub adapter
(:class:`~hgloc.sources.HuggingFaceSource`): its endpoint (``HF_ENDPOINT``),
its token (sent to the Hub's host only, never to the CDN a file redirects
to), its retries and its rate-limit pacer. The counts are stored beside the
model (:data:`hgloc.facts._store.SAFETENSORS_FILE`) so later questions need
no network.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import anyio

from hgloc._aio import task_group
from hgloc.errors import EntryNotFoundError, HeaderError, HubError
from hgloc.facts.safetensors_header import (
    INDEX_FILE,
    LENGTH_PREFIX,
    SINGLE_FILE,
    TensorCounts,
    header_length,
    parse_header,
    shard_names,
)

if TYPE_CHECKING:
    from hgloc.sources import HuggingFaceSource

__all__ = ["FIRST_RANGE", "fetch_counts"]

FIRST_RANGE = 64 * 1024  # most headers fit: one request per file
_PARALLEL = 8


async def _read(source: HuggingFaceSource, model_id: str, revision: str, name: str,
                start: int, end: int, *, enough: int | None = None) -> bytes:  # fmt: skip
    """Bytes ``[start, end)`` of a file; stops (and closes the connection) once the
    first ``enough`` bytes are in, so a file shorter than the range is read once."""
    data = bytearray()
    chunks = source.stream(model_id, revision, name, start=start, end=end)
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            data += chunk
            if enough is None and len(data) >= LENGTH_PREFIX:
                enough = min(end - start, LENGTH_PREFIX + header_length(bytes(data)))
            if enough is not None and len(data) >= enough:
                break
    return bytes(data)


async def _file_counts(source: HuggingFaceSource, model_id: str, revision: str,
                       name: str) -> TensorCounts:  # fmt: skip
    first = await _read(source, model_id, revision, name, 0, FIRST_RANGE)
    length = header_length(first)
    header = first[LENGTH_PREFIX : LENGTH_PREFIX + length]
    if len(header) < length:
        start = LENGTH_PREFIX + len(header)
        end = LENGTH_PREFIX + length
        header += await _read(source, model_id, revision, name, start, end, enough=end - start)
    if len(header) != length:
        raise HeaderError(f"{name} of {model_id}: the file ends inside its header")
    return parse_header(header)


async def fetch_counts(
    source: HuggingFaceSource, model_id: str, revision: str
) -> dict[str, TensorCounts]:
    """Counts per weight file of a Hub model at ``revision`` (a commit, ideally); ``{}`` if it
    has no safetensors weights."""
    try:
        index = await source.fetch(model_id, revision, INDEX_FILE)
        names = shard_names(index.data)
    except EntryNotFoundError:
        names = [SINGLE_FILE]
    out: dict[str, TensorCounts] = {}
    limiter = anyio.CapacityLimiter(_PARALLEL)

    async def one(name: str) -> None:
        async with limiter:
            try:
                out[name] = await _file_counts(source, model_id, revision, name)
            except EntryNotFoundError:
                if name != SINGLE_FILE:  # a shard the index names is missing: broken repo
                    raise HubError(
                        f"{model_id}: {INDEX_FILE} names {name}, which is missing"
                    ) from None

    async with task_group() as tg:
        for name in names:
            tg.start_soon(one, name)
    return dict(sorted(out.items()))
