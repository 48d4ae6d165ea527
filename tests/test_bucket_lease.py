"""Leases in the bucket (take, renew, take over, fence) and the conditional-write probe.

The lease rules run on a memory store; the probe runs against moto, directly
and behind a proxy that strips ``If-Match`` / ``If-None-Match`` (a server that
ignores conditions).
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from hgloc.backends import MemoryBackend
from hgloc.bucket import BucketTier, Leases, fence, honours_conditions
from hgloc.config import Config
from hgloc.errors import ConditionalWritesIgnoredError, LeaseLostError
from hgloc.layout import FileRecord, ModelRecord

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_lease_is_taken_once_until_it_expires_then_taken_over_with_a_new_token() -> None:
    store = MemoryBackend()
    a = Leases(store, seconds=0.3, holder="a")
    b = Leases(store, seconds=0.3, holder="b")
    first = await a.take("models/m/main")
    assert first is not None and first.token == 1
    assert await b.take("models/m/main") is None  # live holder
    body = json.loads(await store.read(a.key("models/m/main")))
    assert body["holder"] == "a" and body["token"] == 1
    await anyio.sleep(0.35)
    second = await b.take("models/m/main")
    assert second is not None and second.token == 2
    with pytest.raises(LeaseLostError, match="taken over"):
        await a.renew(first)  # the dead holder's late write is refused
    renewed = await b.renew(second)
    assert renewed.token == 2 and renewed.etag != second.etag
    await b.release(renewed)
    assert not await store.exists(b.key("models/m/main"))  # nothing left behind


async def test_concurrent_exclusive_runs_do_the_work_once() -> None:
    store = MemoryBackend()
    done = False
    runs = 0

    async def work() -> str:
        nonlocal done, runs
        runs += 1
        await anyio.sleep(0.2)
        await fence()
        done = True
        return "did it"

    async def is_done() -> bool:
        return done

    results: list[str | None] = []

    async def one(name: str) -> None:
        results.append(await Leases(store, seconds=5, holder=name).exclusive("m", work, is_done))

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(one, f"replica-{i}")
    assert runs == 1
    assert sorted(results, key=str) == [None, None, None, None, "did it"]
    assert [k async for k in store.list_keys()] == []


async def test_a_holder_taken_over_cannot_publish() -> None:
    store = MemoryBackend()
    stalled = Leases(store, seconds=30, holder="stalled")
    published: list[str] = []

    async def work() -> None:
        # While this holder stalled (a pause longer than the lease), another took over.
        key = stalled.key("m")
        taken = json.loads(await store.read(key))
        await store.put(key, json.dumps({**taken, "holder": "next", "token": 2}).encode())
        await fence()
        published.append("stalled")

    async def never() -> bool:
        return False

    with pytest.raises(LeaseLostError, match="taken over"):
        await stalled.exclusive("m", work, never)
    assert published == []
    assert json.loads(await store.read(stalled.key("m")))["holder"] == "next"  # not released


async def test_the_heartbeat_keeps_a_long_job_s_lease() -> None:
    store = MemoryBackend()
    holder = Leases(store, seconds=0.3, holder="long")
    other = Leases(store, seconds=0.3, holder="other")
    stolen: list[bool] = []

    async def work() -> None:
        for _ in range(6):  # 0.6 s: twice the lease's lifetime
            await anyio.sleep(0.1)
            stolen.append(await other.take("m") is not None)
        await fence()

    async def never() -> bool:
        return False

    await holder.exclusive("m", work, never)
    assert stolen == [False] * 6


# -- the probe, against moto -------------------------------------------------------------------


def _moto_missing() -> str | None:
    for module in ("aiobotocore", "moto"):
        if importlib.util.find_spec(module) is None:
            return f"needs {module}"
    return None


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    reason = _moto_missing()
    if reason:
        pytest.skip(reason)
    from hgloc_testing import MotoServer

    with MotoServer() as server:
        yield server


def _s3(moto: Any, bucket: str, endpoint: str) -> Any:
    from hgloc.backends import S3Backend

    return S3Backend(
        bucket,
        prefix="team",
        endpoint_url=endpoint,
        access_key_id=moto.access_key_id,
        secret_access_key=moto.secret_access_key,
    )


def _keys(moto: Any, bucket: str) -> list[str]:
    listed = moto.client().list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def _record() -> ModelRecord:
    return ModelRecord(
        model_id="team/m", revision=None, commit="a" * 40, files={"config.json": FileRecord(
            "config.json", 2, "b" * 40)}
    )  # fmt: skip


async def test_moto_honours_conditions_and_the_probe_leaves_nothing(moto: Any) -> None:
    bucket = moto.create_bucket(f"probe-{uuid.uuid4().hex[:10]}")
    async with _s3(moto, bucket, moto.endpoint_url) as store:
        assert await honours_conditions(store)
        leases = Leases(store, seconds=5)
        lease = await leases.take("models/team_m/default_revision")
        assert lease is not None
        assert await Leases(store, seconds=5).take("models/team_m/default_revision") is None
        await leases.release(lease)
    assert _keys(moto, bucket) == []


async def test_a_server_that_ignores_conditions_is_refused_for_multi_writer_work(
    moto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hgloc_testing import S3Proxy, run_asgi_in_thread

    bucket = moto.create_bucket(f"ignores-{uuid.uuid4().hex[:10]}")
    # What an S3-compatible server that accepts the headers and ignores them does.
    proxy = S3Proxy(moto.endpoint_url, drop=(b"if-match", b"if-none-match"))
    with run_asgi_in_thread(proxy, name="ignores-conditions") as endpoint:
        config = Config(s3_bucket_name=bucket, s3_endpoint_url=endpoint, s3_data_prefix="team")
        async with _s3(moto, bucket, endpoint) as store:
            started = time.monotonic()
            assert not await honours_conditions(store)
            assert proxy.dropped >= 2  # the conditions were sent, and dropped on the way
            tier = BucketTier(config, store)
            with pytest.raises(ConditionalWritesIgnoredError) as caught:
                await tier.record([_record()])
            message = str(caught.value)
            assert endpoint in message and "If-None-Match" in message
            assert "HGLOC_S3_SINGLE_WRITER" in message
            with pytest.raises(ConditionalWritesIgnoredError, match="taking a lease"):
                await Leases(store, seconds=5).take("models/team_m/default_revision")
            assert time.monotonic() - started < 10
            assert _keys(moto, bucket) == []  # refused before anything was written

            # A single writer, declared: the index is written.
            monkeypatch.setenv("HGLOC_S3_SINGLE_WRITER", "1")
            await tier.record([_record()])
            assert [e.model_id for e in await tier.entries()] == ["team/m"]
