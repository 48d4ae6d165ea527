"""The pooled HTTP client: where each request goes, what may queue, and slots given back.

Seen from the server: each answer names the TCP connection that carried it, so
a test can tell which of the client's connections (and so which pool) served a
request, and whether a new connection was opened for it.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import socketserver
import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import httpcore2
import pytest

from hgloc.sources._http import Client, make_client

pytestmark = pytest.mark.anyio

BIG = 1 << 20


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections are reused
    ids = itertools.count()

    def setup(self) -> None:
        super().setup()
        self.conn_id = next(self.ids)

    def do_GET(self) -> None:
        body = b"b" * BIG if self.path == "/big" else b"x" * 10
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-conn", str(self.conn_id))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that closes a connection is not news


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/x"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    client = Client(connections=32, timeout=10)  # two pools of 16
    yield client
    await client.aclose()


class _Held:
    """Answers kept open, and the connections that carry them."""

    def __init__(self) -> None:
        self.stack = contextlib.AsyncExitStack()
        self.conns: set[str] = set()

    async def take(
        self, client: Client, url: str, *, long: bool = False, read: bool = False
    ) -> None:
        """Open an answer; ``read``: read its body (the connection may then be reused)."""
        response = await self.stack.enter_async_context(
            client.stream("GET", url, headers={}, long=long)
        )
        if read:
            await response.aread()
        self.conns.add(response.headers["x-conn"])

    async def release(self) -> None:
        await self.stack.aclose()


async def _fill(client: Client, url: str, *, long: bool) -> tuple[_Held, _Held]:
    """Take all 32 connections; requests alternate between the two pools."""
    pools = (_Held(), _Held())
    for i in range(32):
        await pools[i % 2].take(client, url, long=long)
    assert len(pools[0].conns | pools[1].conns) == 32
    return pools


async def _all_slots_free(client: Client, url: str) -> None:
    """32 long answers at once: none waits, so no slot was left taken."""
    with anyio.fail_after(5):
        pools = await _fill(client, url, long=True)
    for held in pools:
        await held.release()


async def test_requests_go_to_the_least_busy_pool(url: str, client: Client) -> None:
    kept, done = _Held(), _Held()
    for held in (kept, done, kept, done):
        await held.take(client, url, read=held is done)
    await done.release()  # the second pool's answers end; its connections idle
    async with client.stream("GET", url, headers={}) as response:
        # Round-robin would have used the busy pool and opened a new connection there.
        assert response.headers["x-conn"] in done.conns
    assert (await client.get(url)).content == b"x" * 10
    await kept.release()
    with pytest.raises(RuntimeError):
        async with client.stream("GET", url, headers={}):
            raise RuntimeError("the caller fails mid-answer")
    await _all_slots_free(client, url)  # the slot is given back whatever happens


@pytest.mark.parametrize(
    ("long", "serves"),
    [
        # Behind big answers nothing queues: the request waits in the client and
        # goes to whichever pool frees a connection first.
        (True, 1),
        # Behind short answers it queues inside a pool (one per connection at most),
        # and is served there once that pool's connections free up.
        (False, 0),
    ],
)
async def test_where_a_request_waits_when_every_connection_is_taken(
    url: str, client: Client, long: bool, serves: int
) -> None:
    pools = await _fill(client, url, long=long)
    got: list[str] = []
    done = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def short() -> None:
            got.append((await client.get(url)).headers["x-conn"])
            done.set()

        tg.start_soon(short)
        await anyio.sleep(0.2)
        assert got == []
        if not long:
            await pools[1].release()  # queued in the other pool: a free one does not help
            await anyio.sleep(0.2)
            assert got == []
        await pools[serves].release()
        with anyio.fail_after(5):
            await done.wait()
    # Served on a new connection in the freed pool (a closed, unread answer's
    # connection is dropped), never on one of the still-held ones.
    assert got[0] not in pools[1 - serves].conns
    await pools[1 - serves].release()
    await _all_slots_free(client, url)


async def test_a_cancelled_wait_takes_no_slot(url: str, client: Client) -> None:
    pool0, pool1 = await _fill(client, url, long=True)
    with anyio.move_on_after(0.2) as waited:
        await client.get(url)
    assert waited.cancelled_caught
    await pool0.release()
    await pool1.release()
    await _all_slots_free(client, url)


async def test_big_socket_reads_stay_inside_hgloc(url: str) -> None:
    client = make_client(connections=4, timeout=10)
    try:
        async with client.stream("GET", url.replace("/x", "/big"), headers={}) as response:
            sizes = [len(chunk) async for chunk in response.aiter_raw()]
    finally:
        await client.aclose()
    assert sum(sizes) == BIG
    assert max(sizes) > 64 << 10  # more than httpcore2 reads at a time
    assert httpcore2.AsyncHTTP11Connection.READ_NUM_BYTES == 64 << 10  # other clients: unchanged
