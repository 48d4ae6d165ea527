"""A stored object's bytes, whole or one byte range, streamed from its backend to the client.

Every backend reads a range without reading what comes before it
(``read_stream(start=, end=)``): a local file is seeked, an S3 object is
fetched with a ranged ``GetObject``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hgloc.backends import StorageBackend

__all__ = ["CHUNK", "Body", "StoreFileResponse", "open_body"]

logger = logging.getLogger("hgloc.serve")

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


class StoreFileResponse(Response):
    """Sends an opened :class:`Body`: never more than ``length`` bytes, stops on a hang-up.

    uvicorn's ``send`` ignores a closed connection, so the response watches for
    ``http.disconnect`` itself and stops reading the store. A store that gives
    fewer bytes than promised leaves the response unfinished: the server closes
    the connection and the client sees a short body, not a complete-looking one.
    """

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: Body, length: int):
        super().__init__(status_code=status)
        self.raw_headers = list(headers)
        self._body = body
        self._length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        sent = 0
        gone = False
        stream = self._body
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            try:
                async for chunk in stream:
                    # A store that never blocks (memory) and a send that does not either
                    # would starve the watcher: let it see a hang-up between chunks.
                    await anyio.lowlevel.checkpoint()
                    piece = chunk[: self._length - sent]  # never more than Content-Length
                    if piece:
                        await send({"type": "http.response.body", "body": piece, "more_body": True})
                        sent += len(piece)
                    if sent >= self._length:
                        break
            except Exception as exc:
                logger.warning("stopped sending a file after %d bytes: %s", sent, exc)
            finally:
                await stream.aclose()
            tg.cancel_scope.cancel()
        if gone:
            return
        if sent < self._length:
            logger.warning("the store gave %d of %d bytes", sent, self._length)
            return
        await send({"type": "http.response.body", "body": b""})
