"""The one place that names the HTTP library, so changing it is a one-line decision."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import httpcore2
import httpx2

__all__ = ["Client", "HTTPError", "Response", "TransportError", "make_client"]

Response = httpx2.Response
TransportError = httpx2.TransportError  # connect, read, write, protocol and timeout errors
HTTPError = httpx2.HTTPError

# httpcore2 reads a socket 64 KiB at a time; on a fast link each read costs an
# event-loop round trip, and a 1 GB download spent ~0.5 s in them. 256 KiB reads
# made the whole download ~30% faster (benchmarks/bench_big_file.py). Setting
# ``AsyncHTTP11Connection.READ_NUM_BYTES`` would change every client in the
# process, so hgloc's own pools read through streams that ask for more.
_READ_BYTES = 256 << 10

_POOL_SIZE = 16  # connections per pool; see Client


# The two classes below implement httpcore2's interfaces, ``timeout`` parameters
# included (hence the ASYNC109 exemptions).


class _BigReadStream(httpcore2.AsyncNetworkStream):
    """A socket stream whose reads ask for at least ``_READ_BYTES``."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max(max_bytes, _READ_BYTES), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore2.AsyncNetworkStream:
        return _BigReadStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BigReadBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's anyio network backend (asyncio and trio alike), with big reads."""

    def __init__(self) -> None:
        self._backend = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _BigReadStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _BigReadStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def _transport(limits: httpx2.Limits, ssl_context: ssl.SSLContext) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport over a connection pool that reads big chunks."""
    transport = httpx2.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    # httpx2 offers no way to pass a network backend, so its pool is rebuilt with
    # the arguments it would have used (no proxy: proxies come from ``mounts``).
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_BigReadBackend(),
    )
    return transport


class Client:
    """One client over a few small connection pools, admitting requests itself.

    httpcore checks every idle connection of a pool (a socket probe each)
    whenever a request starts or ends. With one pool of 64 connections and
    many of them idle between requests, that probing cost more CPU than the
    requests in a bulk prefetch; pools of 16 make each check 4x cheaper.
    Together they hold ``connections`` sockets at most.

    A request goes to the pool with the fewest under way. When every
    connection is taken, a short request (a small answer read whole) may still
    queue inside a pool whose requests are all short, up to one per connection:
    a connection that finishes an answer then starts the next at once, instead
    of idling (and being probed) until the next request arrives. Nothing
    queues behind a long request (a big file's bytes, which may take minutes):
    such requests wait here until a connection is free, in whichever pool.
    """

    def __init__(self, *, connections: int, timeout: float) -> None:
        shards = max(1, -(-connections // _POOL_SIZE))
        self._per_pool = -(-connections // shards)
        # Building an SSL context loads the CA bundle (~20 ms); one serves every pool.
        ssl_context = httpx2.create_ssl_context()
        limits = httpx2.Limits(
            max_connections=self._per_pool,
            max_keepalive_connections=self._per_pool,
            keepalive_expiry=30.0,
        )
        self._pools = [
            httpx2.AsyncClient(
                limits=limits,
                # No pool timeout: a request waits in a pool only behind short ones.
                timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0), pool=None),
                follow_redirects=False,  # the adapter follows them, dropping auth off-host
                verify=ssl_context,
                transport=_transport(limits, ssl_context),
            )
            for _ in range(shards)
        ]
        self._busy = [0] * shards  # requests under way (or queued inside), per pool
        self._long = [0] * shards  # of which long ones
        self._freed: anyio.Event | None = None  # made by the first waiter, set on a release

    def _choose(self, long: bool) -> int | None:
        """The pool to send to now, or None: wait for a request to end."""
        index = min(range(len(self._pools)), key=self._busy.__getitem__)
        if self._busy[index] < self._per_pool:
            return index  # a free connection
        if long:
            return None
        for index in sorted(range(len(self._pools)), key=self._busy.__getitem__):
            if self._long[index] == 0 and self._busy[index] < 2 * self._per_pool:
                return index  # queue behind short requests only
        return None

    async def _take(self, long: bool) -> int:
        """Wait for a pool that may take the request; count the request in it."""
        while (index := self._choose(long)) is None:
            if self._freed is None:
                self._freed = anyio.Event()
            await self._freed.wait()
        self._busy[index] += 1
        self._long[index] += long
        return index

    def _give_back(self, index: int, long: bool) -> None:
        self._busy[index] -= 1
        self._long[index] -= long
        if self._freed is not None:  # every waiter looks again
            self._freed.set()
            self._freed = None

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: dict[str, str], long: bool = False
    ) -> AsyncIterator[httpx2.Response]:
        """``AsyncClient.stream`` on the pool chosen as above.

        ``long``: the answer may take long to consume (a big file's bytes).
        """
        index = await self._take(long)
        try:
            async with self._pools[index].stream(method, url, headers=headers) as response:
                yield response
        finally:
            self._give_back(index, long)

    async def get(self, url: str) -> httpx2.Response:
        """A whole small answer (``AsyncClient.get``)."""
        index = await self._take(False)
        try:
            return await self._pools[index].get(url)
        finally:
            self._give_back(index, False)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def make_client(*, connections: int, timeout: float) -> Client:
    """A client holding at most ``connections`` sockets per host."""
    return Client(connections=connections, timeout=timeout)
