"""Answers whose bytes do not pass through Python: a redirect to the bucket, or a path to send.

- ``--redirect-to-bucket``: an LFS file of a bucket store is answered ``302``
  to a presigned URL of its object, with the headers the Hub sends along its
  redirect to the CDN (``X-Linked-Etag``, ``X-Linked-Size``, ``X-Repo-Commit``):
  clients download straight from S3 and the mirror only answers metadata.
- From a local store, a whole file is handed to the ASGI server by path
  (the ``http.response.pathsend`` extension, which granian implements), so
  the server reads and sends it without Python; servers without the
  extension (uvicorn) get the file streamed (serve/_stream.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hgloc.backends import LocalPaths, PresignedUrls, StorageBackend
from hgloc.serve._small import MAX_BODY

if TYPE_CHECKING:
    from hgloc.serve._catalog import ServedFile

__all__ = ["PATHSEND", "PathSendResponse", "bucket_redirect", "local_file"]

PATHSEND = "http.response.pathsend"
REDIRECT_SECONDS = 3600  # how long a presigned URL works (the Hub's CDN links expire too)


class PathSendResponse(Response):
    """Headers, then the file at ``path`` sent by the server (``http.response.pathsend``)."""

    def __init__(self, headers: list[tuple[bytes, bytes]], path: Path) -> None:
        super().__init__(status_code=200)
        self.raw_headers = list(headers)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": PATHSEND, "path": str(self.path)})


async def bucket_redirect(
    backend: StorageBackend,
    key: str,
    file: ServedFile,
    headers: list[tuple[bytes, bytes]],
) -> Response | None:
    """A ``302`` to a presigned URL of ``key`` for an LFS file; ``None`` when not possible."""
    if not file.is_lfs or not isinstance(backend, PresignedUrls):
        return None
    url = await backend.presigned_url(key, seconds=REDIRECT_SECONDS)
    response = Response(status_code=302)
    response.raw_headers = [
        *((k, v) for k, v in headers if k not in (b"content-type", b"accept-ranges")),
        (b"location", url.encode()),
        (b"content-length", b"0"),
    ]
    return response


def local_file(
    scope: Scope,
    backend: StorageBackend,
    key: str,
    size: int,
    headers: list[tuple[bytes, bytes]],
) -> Response | None:
    """The whole file sent by path, when the server and the store allow it; else ``None``."""
    if size <= MAX_BODY:
        return None  # small: read once, then answered from memory (serve/_small.py)
    if PATHSEND not in scope.get("extensions", {}) or not isinstance(backend, LocalPaths):
        return None
    path = backend.target_path(key)
    try:
        if path.stat().st_size != size:
            return None  # the streaming path reports the damage
    except OSError:
        return None
    return PathSendResponse(headers, path)
