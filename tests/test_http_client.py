"""The pooled HTTP client: each request goes to its least busy pool, and gives its slot back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from hgloc.sources._http import Client
from hgloc.testing import HubEmulator, Repo

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    hub = HubEmulator([Repo("a/b", [{"x.txt": b"x" * 10}])], record_requests=False)
    with hub.run_in_thread() as url:
        yield url


async def test_requests_go_to_the_least_busy_pool(hub_url: str) -> None:
    client = Client(connections=32, timeout=10)  # two pools of 16
    url = f"{hub_url}/a/b/resolve/main/x.txt"

    def answer() -> contextlib.AbstractAsyncContextManager[object]:
        return client.stream("GET", url, headers={})

    try:
        async with contextlib.AsyncExitStack() as kept, contextlib.AsyncExitStack() as done:
            for stack in (kept, done, kept, done):
                await stack.enter_async_context(answer())
            assert client._busy == [2, 2]
            await done.aclose()  # the second pool's answers end
            assert client._busy == [2, 0]
            async with answer():
                assert client._busy == [2, 1]  # round-robin would have used the busy pool
            assert (await client.get(url)).content == b"x" * 10
        assert client._busy == [0, 0]
        with pytest.raises(RuntimeError):
            async with answer():
                raise RuntimeError("the caller fails mid-answer")
        assert client._busy == [0, 0]  # the slot is given back whatever happens
    finally:
        await client.aclose()
