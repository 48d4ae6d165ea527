"""The one place that names the HTTP library, so changing it is a one-line decision."""

from __future__ import annotations

import httpcore2
import httpx2

__all__ = ["HTTPError", "Response", "TransportError", "make_client"]

Response = httpx2.Response
TransportError = httpx2.TransportError  # connect, read, write, protocol and timeout errors
HTTPError = httpx2.HTTPError

# httpcore2 reads a socket 64 KiB at a time; on a fast link each read costs an
# event-loop round trip, and a 1 GB download spent ~0.5 s in them. 256 KiB reads
# made the whole download ~30% faster (benchmarks/bench_big_file.py). The
# setting is a class attribute meant to be tuned; it only affects async HTTP/1.1.
httpcore2.AsyncHTTP11Connection.READ_NUM_BYTES = 256 << 10


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
