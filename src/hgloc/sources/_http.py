"""The one place that names the HTTP library, so changing it is a one-line decision."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpcore2
import httpx2

__all__ = ["Client", "HTTPError", "Response", "TransportError", "make_client"]

Response = httpx2.Response
TransportError = httpx2.TransportError  # connect, read, write, protocol and timeout errors
HTTPError = httpx2.HTTPError

# httpcore2 reads a socket 64 KiB at a time; on a fast link each read costs an
# event-loop round trip, and a 1 GB download spent ~0.5 s in them. 256 KiB reads
# made the whole download ~30% faster (benchmarks/bench_big_file.py). The
# setting is a class attribute meant to be tuned; it only affects async HTTP/1.1.
httpcore2.AsyncHTTP11Connection.READ_NUM_BYTES = 256 << 10


_POOL_SIZE = 16  # connections per pool; see Client


class Client:
    """One client over a few small connection pools; each request goes to the least busy.

    httpcore checks every idle connection of a pool (a socket probe each)
    whenever a request starts or ends. With one pool of 64 connections and
    many of them idle between requests, that probing cost more CPU than the
    requests in a bulk prefetch; pools of 16 make each check 4x cheaper.
    Together they hold ``connections`` sockets at most. Requests go to the pool
    with the fewest under way, so none waits behind a pool busy with big
    downloads while another has a free connection.
    """

    def __init__(self, *, connections: int, timeout: float) -> None:
        shards = max(1, -(-connections // _POOL_SIZE))
        per_pool = -(-connections // shards)
        # Building an SSL context loads the CA bundle (~20 ms); one serves every pool.
        ssl_context = httpx2.create_ssl_context()
        self._pools = [
            httpx2.AsyncClient(
                limits=httpx2.Limits(
                    max_connections=per_pool,
                    max_keepalive_connections=per_pool,
                    keepalive_expiry=30.0,
                ),
                # No pool timeout: the caller bounds how many requests wait for a
                # connection, and one waiting behind big downloads must not fail.
                timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0), pool=None),
                follow_redirects=False,  # the adapter follows them, dropping auth off-host
                verify=ssl_context,
            )
            for _ in range(shards)
        ]
        self._busy = [0] * len(self._pools)  # requests under way, per pool

    @contextlib.asynccontextmanager
    async def _pool(self) -> AsyncIterator[httpx2.AsyncClient]:
        index = min(range(len(self._pools)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            yield self._pools[index]
        finally:
            self._busy[index] -= 1

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: dict[str, str]
    ) -> AsyncIterator[httpx2.Response]:
        """``AsyncClient.stream`` on the least busy pool."""
        async with self._pool() as pool, pool.stream(method, url, headers=headers) as response:
            yield response

    async def get(self, url: str) -> httpx2.Response:
        """A whole small answer (``AsyncClient.get``) from the least busy pool."""
        async with self._pool() as pool:
            return await pool.get(url)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def make_client(*, connections: int, timeout: float) -> Client:
    """A client holding at most ``connections`` sockets per host."""
    return Client(connections=connections, timeout=timeout)
