"""What crosses every route of ``hgloc serve``, as ASGI middleware: the token, read-only.

The token is checked before anything else, so an unauthorized client learns
nothing (not even that a method is refused). Tokens are compared as
fixed-size digests, in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from hgloc.hub_wire import path_segments
from hgloc.serve._replies import hub_error, plain
from hgloc.serve._routes import raw_path

__all__ = ["ReadOnly", "RequireToken", "presented_token"]

_BAD_TOKEN = "Invalid credentials in Authorization header"  # the Hub's words: clients know them
# The page: let a browser ask for the token (any user name, the token as password).
_ASK = [(b"www-authenticate", b'Basic realm="hgloc serve", charset="UTF-8"')]


def presented_token(authorization: str | None) -> str | None:
    """The token of ``Bearer <token>``, or the password of ``Basic`` (what browsers send).

    >>> presented_token("Bearer abc"), presented_token("Basic " + "bWU6YWJj"), presented_token("")
    ('abc', 'abc', None)
    """
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _digest(token: str) -> bytes:
    # Compared as fixed-size digests: compare_digest then leaks nothing, not even length.
    return hashlib.sha256(token.encode()).digest()


class RequireToken:
    """Answer 401 (the Hub's words) unless the request carries ``token``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = _digest(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = presented_token(Headers(scope=scope).get("authorization"))
        if given is not None and hmac.compare_digest(_digest(given), self._digest):
            await self.app(scope, receive, send)
            return
        hint = (
            "the token sent is not this server's"
            if given is not None
            else "this hgloc server needs a token: set HF_TOKEN to it"
        )
        page = not path_segments(raw_path(scope))
        response = hub_error(
            401, None, _BAD_TOKEN, _ASK if page else None, detail=f"{_BAD_TOKEN}: {hint}"
        )
        await response(scope, receive, send)


class ReadOnly:
    """Answer 405 to anything but ``GET`` and ``HEAD``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            response = plain(
                405, "Method Not Allowed: this server is read-only", [(b"allow", b"GET, HEAD")]
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
