"""A stored object's bytes, whole or one byte range, streamed from its backend.

Every backend reads a range without reading what comes before it
(``read_stream(start=, end=)``): a local file is seeked, an S3 object is
fetched with a ranged ``GetObject``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio

from hgloc.backends import StorageBackend

__all__ = ["CHUNK", "Body", "open_body"]

CHUNK = 1 << 20


class Body:
    """Bytes of one object, opened; ``aclose`` releases it whether it was read or not."""

    def __init__(self, chunks: AsyncIterator[bytes], total: int) -> None:
        self._chunks = chunks
        self.total = total
        """The size of the whole object as the store holds it."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            # Returns (or drops) the connection even when the client went away early.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await closer()


async def open_body(
    backend: StorageBackend, key: str, start: int, end: int, *, whole: bool
) -> Body:
    """Open bytes ``start..end`` (inclusive) of ``key``, or all of it when ``whole``.

    The object is looked up here, so a missing one raises
    :class:`~hgloc.errors.ObjectNotFoundError` before any header is sent.
    """
    info = await backend.stat(key)
    if whole:
        chunks = backend.read_stream(key, chunk_size=CHUNK)
    else:
        chunks = backend.read_stream(key, start=start, end=end + 1, chunk_size=CHUNK)
    return Body(chunks, info.size)
