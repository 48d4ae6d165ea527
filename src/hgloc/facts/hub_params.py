"""Tensor counts of a model the store keeps without its weights, read from the Hub's headers.

Only the safetensors headers travel: an HTTP Range request for a file's
first bytes (which usually hold the whole header), a second one when the
header is longer. Sharded models are found through
``model.safetensors.index.json``. The counts are stored beside the model
(:data:`hgloc.facts._store.SAFETENSORS_FILE`) so later questions need no network.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from hgloc.errors import HubError, HubUnavailableError, OfflineModeError
from hgloc.facts.safetensors_header import (
    INDEX_FILE,
    LENGTH_PREFIX,
    SINGLE_FILE,
    HeaderError,
    TensorCounts,
    header_length,
    parse_header,
    shard_names,
)

if TYPE_CHECKING:
    import httpx2

    from hgloc.config import Config

__all__ = ["FIRST_RANGE", "fetch_counts"]

FIRST_RANGE = 64 * 1024  # most headers fit: one request per file
_MAX_INDEX = 50_000_000  # a shard index is JSON of tensor names: far below this
_PARALLEL = 8


class _Missing(Exception):
    """The Hub has no such file at that revision."""


@asynccontextmanager
async def _client(config: Config) -> AsyncIterator[httpx2.AsyncClient]:
    """The one place that builds an HTTP client (the integrator routes this via the Hub client)."""
    import httpx2

    if config.is_offline:
        raise OfflineModeError("offline (HF_HUB_OFFLINE): the weights' headers cannot be fetched")
    token = config.token()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    # httpx drops the authorization header when a redirect leaves the host (LFS CDN)
    async with httpx2.AsyncClient(
        headers=headers, follow_redirects=True, timeout=config.request_timeout
    ) as client:
        yield client


async def _get(
    client: httpx2.AsyncClient, url: str, *, start: int = 0, end: int | None = None, limit: int
) -> bytes:
    """Bytes ``start``..``end`` (inclusive) of a file, never more than ``limit`` even if the
    server ignores the range."""
    import httpx2

    headers = {} if (start, end) == (0, None) else {"range": f"bytes={start}-{end or ''}"}
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 404 and response.headers.get("x-error-code") == (
                "EntryNotFound"
            ):
                raise _Missing(url)
            if response.status_code == 416:
                return b""
            if response.status_code not in (200, 206):
                code = response.headers.get("x-error-code") or response.status_code
                raise HubError(f"the Hub answered {code} for {url}")
            skip = start if response.status_code == 200 else 0  # range ignored: whole file
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= skip + limit:
                    break
            return bytes(data[skip : skip + limit])
    except httpx2.TransportError as exc:
        raise HubUnavailableError(f"cannot reach the Hub for {url}: {exc}") from exc


async def _file_counts(client: httpx2.AsyncClient, url: str) -> TensorCounts:
    first = await _get(client, url, end=FIRST_RANGE - 1, limit=FIRST_RANGE)
    length = header_length(first)
    header = first[LENGTH_PREFIX : LENGTH_PREFIX + length]
    if len(header) < length:
        header += await _get(
            client,
            url,
            start=LENGTH_PREFIX + len(header),
            end=LENGTH_PREFIX + length - 1,
            limit=length - len(header),
        )
    if len(header) != length:
        raise HeaderError(f"{url}: the file ends inside its header")
    return parse_header(header)


async def fetch_counts(config: Config, model_id: str, revision: str) -> dict[str, TensorCounts]:
    """Counts per weight file of a Hub model at ``revision`` (a commit, ideally); ``{}`` if it
    has no safetensors weights."""
    base = f"{config.endpoint}/{model_id}/resolve/{urllib.parse.quote(revision, safe='')}"
    async with _client(config) as client:
        try:
            names = shard_names(await _get(client, f"{base}/{INDEX_FILE}", limit=_MAX_INDEX))
        except _Missing:
            names = [SINGLE_FILE]
        out: dict[str, TensorCounts] = {}
        limiter = anyio.CapacityLimiter(_PARALLEL)

        async def one(name: str) -> None:
            async with limiter:
                try:
                    out[name] = await _file_counts(client, f"{base}/{urllib.parse.quote(name)}")
                except _Missing:
                    if name != SINGLE_FILE:  # a shard the index names is missing: broken repo
                        raise HubError(
                            f"{model_id}: {INDEX_FILE} names {name}, which is missing"
                        ) from None

        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(one, name)
    return dict(sorted(out.items()))
