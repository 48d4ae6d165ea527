"""The pooled HTTP client: where each request goes, what may queue, and slots given back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from hgloc.sources._http import Client
from hgloc_testing import HubEmulator, Repo

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    hub = HubEmulator([Repo("a/b", [{"x.txt": b"x" * 10}])], record_requests=False)
    with hub.run_in_thread() as url:
        yield url


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    client = Client(connections=32, timeout=10)  # two pools of 16
    yield client
    await client.aclose()


def _url(hub_url: str) -> str:
    return f"{hub_url}/a/b/resolve/main/x.txt"


async def test_requests_go_to_the_least_busy_pool(hub_url: str, client: Client) -> None:
    def answer() -> contextlib.AbstractAsyncContextManager[object]:
        return client.stream("GET", _url(hub_url), headers={})

    async with contextlib.AsyncExitStack() as kept, contextlib.AsyncExitStack() as done:
        for stack in (kept, done, kept, done):
            await stack.enter_async_context(answer())
        assert client._busy == [2, 2]
        await done.aclose()  # the second pool's answers end
        assert client._busy == [2, 0]
        async with answer():
            assert client._busy == [2, 1]  # round-robin would have used the busy pool
        assert (await client.get(_url(hub_url))).content == b"x" * 10
    assert client._busy == [0, 0]
    with pytest.raises(RuntimeError):
        async with answer():
            raise RuntimeError("the caller fails mid-answer")
    assert client._busy == [0, 0]  # the slot is given back whatever happens


async def _fill(
    client: Client, url: str, *, long: bool
) -> tuple[contextlib.AsyncExitStack, contextlib.AsyncExitStack]:
    """Take all 32 connections; the two stacks hold the answers of pool 0 and pool 1."""
    pools = (contextlib.AsyncExitStack(), contextlib.AsyncExitStack())
    for i in range(32):
        await pools[i % 2].enter_async_context(client.stream("GET", url, headers={}, long=long))
    assert client._busy == [16, 16]
    return pools


@pytest.mark.parametrize(
    ("long", "while_waiting", "freed"),
    [
        # Behind big answers nothing queues: the request waits in the client and
        # goes to whichever pool frees a connection first.
        (True, [16, 16], 1),
        # Behind short answers it queues inside a pool (one per connection at most).
        (False, [17, 16], 0),
    ],
)
async def test_where_a_request_waits_when_every_connection_is_taken(
    hub_url: str, client: Client, long: bool, while_waiting: list[int], freed: int
) -> None:
    url = _url(hub_url)
    pools = await _fill(client, url, long=long)
    got: list[bytes] = []
    done = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def short() -> None:
            got.append((await client.get(url)).content)
            done.set()

        tg.start_soon(short)
        await anyio.sleep(0.2)
        assert got == [] and client._busy == while_waiting
        await pools[freed].aclose()
        with anyio.fail_after(5):
            await done.wait()
    await pools[1 - freed].aclose()
    assert got == [b"x" * 10]
    assert client._busy == [0, 0] and client._long == [0, 0]


async def test_a_cancelled_wait_takes_no_slot(hub_url: str, client: Client) -> None:
    url = _url(hub_url)
    pool0, pool1 = await _fill(client, url, long=True)
    with anyio.move_on_after(0.2) as waited:
        await client.get(url)
    assert waited.cancelled_caught and client._busy == [16, 16]
    await pool0.aclose()
    await pool1.aclose()
    assert client._busy == [0, 0]
