"""The one place that names the HTTP library, so changing it is a one-line decision."""

from __future__ import annotations

import httpx2

__all__ = ["HTTPError", "Response", "TransportError", "make_client"]

Response = httpx2.Response
TransportError = httpx2.TransportError  # connect, read, write, protocol and timeout errors
HTTPError = httpx2.HTTPError


def make_client(*, connections: int, timeout: float) -> httpx2.AsyncClient:
    """An async client whose pool holds ``connections`` sockets to one host.

    Redirects are followed by the adapter itself, so that credentials are
    dropped when a redirect leaves the Hub's host.
    """
    return httpx2.AsyncClient(
        limits=httpx2.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=30.0,
        ),
        timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
    )
