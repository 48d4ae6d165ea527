"""What crosses every route of ``hgloc serve``, as ASGI middleware: the token, read-only.

The token is checked before anything else, so an unauthorized client learns
nothing (not even that a method is refused). Tokens are compared as
fixed-size digests, in constant time.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hgloc.hub_wire import Endpoint, parse_hub_path, path_segments, strip_xet_headers
from hgloc.serve._replies import hub_error, plain
from hgloc.serve._routes import raw_path
from hgloc.serve._tokens import digest, presented_token

__all__ = ["NoXetHints", "ReadOnly", "RequireToken", "presented_token"]

_BAD_TOKEN = "Invalid credentials in Authorization header"  # the Hub's words: clients know them
# The page: let a browser ask for the token (any user name, the token as password).
_ASK = [(b"www-authenticate", b'Basic realm="hgloc serve", charset="UTF-8"')]


class RequireToken:
    """Answer 401 (the Hub's words) unless the request carries ``token``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = digest(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = presented_token(Headers(scope=scope).get("authorization"))
        if given is not None and hmac.compare_digest(digest(given), self._digest):
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


def _reads(scope: Scope) -> bool:
    """A POST that only reads: paths-info (its paths come as a form)."""
    where = parse_hub_path(path_segments(raw_path(scope)))
    return scope["method"] == "POST" and where is not None and where.endpoint is Endpoint.PATHS_INFO


class ReadOnly:
    """Answer 405 to anything but ``GET`` and ``HEAD`` (and the paths-info ``POST``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD") and not _reads(scope):
            response = plain(
                405, "Method Not Allowed: this server is read-only", [(b"allow", b"GET, HEAD")]
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class NoXetHints:
    """Strip every Xet hint from what is sent (``X-Xet-*``, ``Link: rel="xet-auth"``).

    The server builds its answers from the store and sends none; this holds the
    rule whatever a route or the upstream adds: a client with ``hf_xet`` that
    saw a hint would fetch from the Xet CAS, past this server.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def clean(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": strip_xet_headers(message.get("headers", []))}
            await send(message)

        await self.app(scope, receive, clean)
