"""The capabilities beyond the base protocol, run on every backend that has them.

Which protocols each backend satisfies is checked on all of them; the
conditional JSON, attributed-write and public-URL contracts run on every
``BucketStore`` (see conftest.BUCKET_STORES): memory and a real S3 server.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import anyio
import anyio.to_thread
import pytest

from hgloc.backends import (
    AttributedWrites,
    BucketStore,
    ConditionalJson,
    LocalPaths,
    MemoryBackend,
    NamedStore,
    ObjectDeleter,
    ObjectHead,
    ObjectLister,
    ObjectReader,
    ObjectStat,
    ObjectWriter,
    PublicUrls,
    PutResult,
    StorageBackend,
)
from hgloc.errors import BackendUnavailableError, IndexCorruptError, ObjectNotFoundError

pytestmark = pytest.mark.anyio

INDEX = "private_models_index.json"
BASE = (NamedStore, ObjectReader, ObjectStat, ObjectWriter, ObjectLister, ObjectDeleter)
CAPABILITIES: dict[str, set[type]] = {
    "local": {LocalPaths},
    "memory": {ConditionalJson, AttributedWrites, PublicUrls, BucketStore},
    "s3": {ConditionalJson, AttributedWrites, PublicUrls, BucketStore},
    "s3-prefixed": {ConditionalJson, AttributedWrites, PublicUrls, BucketStore},
}


def _add(name: str, value: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(index: dict[str, Any]) -> dict[str, Any]:
        return {**index, name: value if value is not None else {"model_id": name}}

    return mutate


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _is_public(store: BucketStore, key: str) -> bool:
    """Whether an anonymous reader can read ``key``: an unsigned GET on S3."""
    if isinstance(store, MemoryBackend):
        return store.is_public(key)
    url = store.public_url(key)

    def get() -> int:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    return await anyio.to_thread.run_sync(get) == 200


def _interfere(
    store: BucketStore, monkeypatch: pytest.MonkeyPatch, times: int, theirs: dict[str, Any]
) -> list[int]:
    """Make another writer land between each of the next ``times`` reads and their write.

    The n-th interfering write stores ``theirs`` with ``"round": n`` (new bytes each
    time, so a new ETag). Returns the list the reads are counted in.
    """
    real = store.read_json_with_etag
    reads: list[int] = []

    async def read_then_someone_writes(key: str) -> tuple[dict[str, Any] | None, str | None]:
        seen = await real(key)
        reads.append(1)
        if len(reads) <= times:
            await store.write(key, json.dumps({**theirs, "round": len(reads)}).encode())
        return seen

    monkeypatch.setattr(store, "read_json_with_etag", read_then_someone_writes)
    return reads


# -- which protocols each backend has ------------------------------------------------


async def test_each_backend_has_the_base_protocols_and_its_capabilities(
    backend: StorageBackend, backend_kind: str
) -> None:
    assert isinstance(backend, StorageBackend)
    for protocol in BASE:
        assert isinstance(backend, protocol), protocol.__name__
    for protocol in (LocalPaths, ConditionalJson, AttributedWrites, PublicUrls, BucketStore):
        has = protocol in CAPABILITIES[backend_kind]
        assert isinstance(backend, protocol) == has, (backend_kind, protocol.__name__)


# -- ConditionalJson --------------------------------------------------------------------


async def test_update_json_creates_then_updates(bucket_store: BucketStore) -> None:
    assert await bucket_store.read_json_with_etag(INDEX) == (None, None)

    first = await bucket_store.update_json(INDEX, _add("gpt2"))
    second = await bucket_store.update_json(INDEX, _add("org/bert"))

    assert first == {"gpt2": {"model_id": "gpt2"}}
    assert list(second) == ["gpt2", "org/bert"]
    index, etag = await bucket_store.read_json_with_etag(INDEX)
    assert index == second
    assert etag == (await bucket_store.head(INDEX)).etag
    assert json.loads(await bucket_store.read(INDEX)) == second


async def test_create_loses_to_a_writer_that_created_first(
    bucket_store: BucketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The read finds nothing, then someone creates the object: If-None-Match: *
    # refuses the write, and the retry sees (and keeps) what they wrote.
    reads = _interfere(bucket_store, monkeypatch, 1, {"theirs": 1})
    seen: list[dict[str, Any]] = []

    def mine(index: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(index))
        return {**index, "mine": 2}

    expected = {"theirs": 1, "round": 1, "mine": 2}
    assert await bucket_store.update_json(INDEX, mine) == expected
    assert seen == [{}, {"theirs": 1, "round": 1}]
    assert len(reads) == 2
    assert json.loads(await bucket_store.read(INDEX)) == expected


async def test_a_conflicting_update_is_retried_and_loses_nothing(
    bucket_store: BucketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bucket_store.update_json(INDEX, _add("a"))
    theirs = {"a": {"model_id": "a"}, "b": {"model_id": "b"}}
    reads = _interfere(bucket_store, monkeypatch, 2, theirs)  # If-Match fails twice

    written = await bucket_store.update_json(INDEX, _add("c"))

    assert len(reads) == 3
    assert written == {**theirs, "round": 2, "c": {"model_id": "c"}}
    assert json.loads(await bucket_store.read(INDEX)) == written


async def test_too_many_conflicts_give_up_without_writing(
    bucket_store: BucketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interfere(bucket_store, monkeypatch, 10, {"theirs": 1})
    with pytest.raises(BackendUnavailableError, match="changed under us 3 times"):
        await bucket_store.update_json(INDEX, _add("mine"), attempts=3)
    assert json.loads(await bucket_store.read(INDEX)) == {"theirs": 1, "round": 3}


async def test_concurrent_updaters_lose_nothing(
    bucket_store: BucketStore, other_handle: BucketStore
) -> None:
    calls = 0

    async def add(store: BucketStore, name: str) -> None:
        def mutate(index: dict[str, Any]) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return {**index, name: {"writer": name}}

        await store.update_json(INDEX, mutate)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for i in range(15):
                group.start_soon(add, bucket_store, f"one-{i}")
                group.start_soon(add, other_handle, f"two-{i}")

    expected = {f"{who}-{i}": {"writer": f"{who}-{i}"} for who in ("one", "two") for i in range(15)}
    assert json.loads(await bucket_store.read(INDEX)) == expected
    assert calls >= 30


@pytest.mark.parametrize(
    "content", [b'{"gpt2---main": {', b"[1, 2]", b"\xff\xfe", b"", b"[" * 5000]
)
async def test_corrupt_json_is_never_overwritten(bucket_store: BucketStore, content: bytes) -> None:
    await bucket_store.write(INDEX, content)

    def must_not_run(index: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("mutate called on a corrupt index")

    with pytest.raises(IndexCorruptError) as info:
        await bucket_store.update_json(INDEX, must_not_run)
    message = str(info.value)
    assert bucket_store.location(INDEX) in message
    assert "repair or delete it" in message
    assert await bucket_store.read(INDEX) == content
    with pytest.raises(IndexCorruptError):
        await bucket_store.read_json_with_etag(INDEX)


async def test_update_json_refuses_bad_arguments(bucket_store: BucketStore) -> None:
    with pytest.raises(ValueError, match="attempts"):
        await bucket_store.update_json(INDEX, _add("a"), attempts=0)
    with pytest.raises(TypeError, match="must return a dict"):
        await bucket_store.update_json(INDEX, lambda index: [index])  # type: ignore[arg-type,return-value]
    assert not await bucket_store.exists(INDEX)
    with pytest.raises(ValueError):
        await bucket_store.update_json("../escape.json", _add("a"))


async def test_update_json_public_makes_the_object_public(bucket_store: BucketStore) -> None:
    await bucket_store.update_json("public_models.json", _add("gpt2"), public=True)
    await bucket_store.update_json(INDEX, _add("gpt2"))
    assert await _is_public(bucket_store, "public_models.json")
    assert not await _is_public(bucket_store, INDEX)


# -- AttributedWrites --------------------------------------------------------------------


async def test_put_returns_the_etag_and_head_the_metadata(bucket_store: BucketStore) -> None:
    data = b'{"architectures": ["GPT2"]}'
    etag = await bucket_store.put(
        "m/main/config.json", data, content_type="application/json", metadata={"sha256": "ab"}
    )
    # One PutObject: the quoted MD5 of the bytes, as S3 gives it.
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'
    head = await bucket_store.head("m/main/config.json")
    assert head == ObjectHead(
        "m/main/config.json", len(data), etag, {"sha256": "ab"}, head.modified
    )
    assert head.modified is not None
    assert await bucket_store.read("m/main/config.json") == data


async def test_put_stream_returns_what_it_stored(bucket_store: BucketStore) -> None:
    result = await bucket_store.put_stream(
        "m/main/model.bin", _chunks(b"ab", b"", b"cde"), metadata={"git-sha1": "f00"}
    )
    assert result == PutResult("m/main/model.bin", 5, result.etag)
    head = await bucket_store.head("m/main/model.bin")
    assert (head.size, head.etag, dict(head.metadata)) == (5, result.etag, {"git-sha1": "f00"})
    assert await bucket_store.write_stream("m/main/plain.bin", _chunks(b"xyz")) == 3


async def test_failed_put_stream_stores_nothing(bucket_store: BucketStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise OSError("connection dropped")

    with pytest.raises(OSError, match="dropped"):
        await bucket_store.put_stream("m/x.bin", broken(), metadata={"sha256": "1"})
    assert not await bucket_store.exists("m/x.bin")


async def test_a_plain_write_replaces_metadata_and_access(bucket_store: BucketStore) -> None:
    await bucket_store.put("m/card.md", b"# card", public=True, metadata={"sha256": "1"})
    assert await _is_public(bucket_store, "m/card.md")
    await bucket_store.write("m/card.md", b"# new card")
    head = await bucket_store.head("m/card.md")
    assert (head.size, dict(head.metadata)) == (10, {})
    assert not await _is_public(bucket_store, "m/card.md")


async def test_head_of_a_missing_object(bucket_store: BucketStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        await bucket_store.head("m/missing.json")
    with pytest.raises(ValueError):
        await bucket_store.head("../x")


# -- PublicUrls -----------------------------------------------------------------------------


async def test_public_url_names_the_key_quoted(bucket_store: BucketStore) -> None:
    url = bucket_store.public_url("模型/model card+1.md")
    scheme, _, rest = url.partition("://")
    assert scheme and rest
    assert url.endswith("/" + quote("模型/model card+1.md", safe="/"))
    assert " " not in url
    with pytest.raises(ValueError):
        bucket_store.public_url("../escape")


async def test_public_objects_only_are_public(bucket_store: BucketStore) -> None:
    await bucket_store.put("m/main/model_card.md", b"# card", public=True)
    await bucket_store.put("m/main/secret.json", b"{}")
    assert await _is_public(bucket_store, "m/main/model_card.md")
    assert not await _is_public(bucket_store, "m/main/secret.json")


async def test_memory_stores_share_nothing() -> None:
    first, second = MemoryBackend("a"), MemoryBackend("a")
    await first.write("k", b"1")
    assert not await second.exists("k")
