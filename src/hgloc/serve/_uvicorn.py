"""Running on uvicorn: the listening socket, the HTTP parser, and uvicorn itself on first use.

Shared by :func:`hgloc.serve.serve` and the test servers (``hgloc_testing``).
"""

from __future__ import annotations

import importlib.util
import socket
from types import ModuleType

from hgloc.errors import MissingExtraError

__all__ = ["bind", "http_impl", "load_uvicorn"]


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (IPv4 or IPv6).

    Made here rather than by uvicorn: an address in use is one clear ``OSError``,
    and the socket is created with ``IPPROTO_TCP`` so asyncio sets ``TCP_NODELAY``
    on accepted connections (with protocol 0 every keep-alive answer waits
    ~40 ms for a delayed ACK).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def load_uvicorn(hint: str) -> ModuleType:
    """uvicorn, imported now; :class:`~hgloc.errors.MissingExtraError` saying ``hint`` if absent."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError(hint) from exc
    return uvicorn


def http_impl() -> str:
    """uvicorn's fastest HTTP parser installed here."""
    # httptools parses about twice as fast as h11; h11 always ships with uvicorn.
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
