"""An S3 endpoint in front of another (moto), to see or change what crosses the wire.

Tests put it between a client and moto to record what the client asked for
(``seen``: each request's method and ``Range``), or to play an S3-compatible
server that accepts some headers and ignores them (``drop``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

__all__ = ["S3Proxy"]


class S3Proxy:
    """An ASGI app forwarding each request whole to ``target``, minus the ``drop`` headers.

    >>> proxy = S3Proxy(moto.endpoint_url, drop=(b"if-match", b"if-none-match"))  # doctest: +SKIP
    >>> with run_asgi_in_thread(proxy) as endpoint: ...  # doctest: +SKIP
    """

    def __init__(self, target: str, *, drop: tuple[bytes, ...] = ()) -> None:
        self.target = target.rstrip("/")
        self.drop = tuple(h.lower() for h in drop)
        self.seen: list[tuple[str, str | None]] = []
        """Each request's method and ``Range`` header, in order."""
        self.dropped = 0
        """How many headers of ``drop`` were sent and not passed on."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        passed = [(k, v) for k, v in scope["headers"] if k not in (b"host", b"expect")]
        headers = [(k, v) for k, v in passed if k not in self.drop]
        self.dropped += len(passed) - len(headers)
        asked = dict(scope["headers"]).get(b"range")
        self.seen.append((scope["method"], asked.decode() if asked else None))
        query = scope["query_string"].decode()
        path = urlsplit(scope["path"]).path  # some clients send the absolute form
        url = self.target + quote(path) + (f"?{query}" if query else "")
        async with httpx2.AsyncClient(timeout=30) as client:
            r = await client.request(scope["method"], url, headers=headers, content=body)
        kept = [
            (k, v)
            for k, v in r.headers.raw
            if k.lower() not in (b"transfer-encoding", b"connection", b"content-length")
        ]
        head = scope["method"] == "HEAD" and "content-length" in r.headers
        length = r.headers["content-length"] if head else str(len(r.content))
        kept.append((b"content-length", length.encode()))
        await send({"type": "http.response.start", "status": r.status_code, "headers": kept})
        await send({"type": "http.response.body", "body": r.content})
