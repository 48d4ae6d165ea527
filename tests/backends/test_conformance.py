"""The contract of StorageBackend, run on every backend (see conftest.BACKENDS)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hgloc.backends import ObjectInfo, StorageBackend
from hgloc.errors import HglocError, InvalidKeyError, ObjectNotFoundError

pytestmark = pytest.mark.anyio

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../x",
    "a/../../b",
    "a/./b",
    "a//b",
    "a/b/",
    "a\\b",
    "a\x00b",
    "C:/windows",
    "x" * 300,
    "a/" + "y" * 1100,
]


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_write_then_read(backend: StorageBackend) -> None:
    await backend.write("org_name/main/config.json", b'{"a": 1}')
    assert await backend.read("org_name/main/config.json") == b'{"a": 1}'
    assert await backend.exists("org_name/main/config.json")


async def test_overwrite_replaces(backend: StorageBackend) -> None:
    await backend.write("k", b"old")
    await backend.write("k", b"new!")
    assert await backend.read("k") == b"new!"
    assert (await backend.stat("k")).size == 4


async def test_unicode_and_empty_objects(backend: StorageBackend) -> None:
    await backend.write("模型/カード.md", "héllo ✓".encode())
    await backend.write("empty", b"")
    assert (await backend.read("模型/カード.md")).decode() == "héllo ✓"
    assert await backend.read("empty") == b""
    assert (await backend.stat("empty")).size == 0


async def test_missing_key_is_file_not_found(backend: StorageBackend) -> None:
    with pytest.raises(ObjectNotFoundError) as info:
        await backend.read("nope/config.json")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, HglocError)
    assert "nope/config.json" in str(info.value)
    with pytest.raises(FileNotFoundError):
        await backend.stat("nope")
    with pytest.raises(FileNotFoundError):
        async for _ in backend.read_stream("nope"):
            pass
    assert not await backend.exists("nope")


async def test_stat(backend: StorageBackend) -> None:
    await backend.write("a/b.bin", b"x" * 1234)
    info = await backend.stat("a/b.bin")
    assert info == ObjectInfo("a/b.bin", 1234, info.modified)
    assert info.modified is not None


async def test_streaming_write_and_read(backend: StorageBackend) -> None:
    parts = [bytes([i]) * 100_000 for i in range(10)]
    written = await backend.write_stream("big/file.safetensors", _chunks(*parts))
    assert written == 1_000_000
    assert (await backend.stat("big/file.safetensors")).size == 1_000_000
    got = [c async for c in backend.read_stream("big/file.safetensors", chunk_size=65536)]
    assert all(isinstance(c, bytes) for c in got)
    assert b"".join(got) == b"".join(parts)
    assert max(len(c) for c in got) <= 65536


async def test_failed_streaming_write_leaves_old_object(backend: StorageBackend) -> None:
    await backend.write("f", b"original")

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise OSError("connection dropped")

    with pytest.raises(OSError, match="connection dropped"):
        await backend.write_stream("f", broken())
    assert await backend.read("f") == b"original"
    keys = [i.key async for i in backend.list()]
    assert keys == ["f"]  # no temp file left visible

    with pytest.raises(OSError):
        await backend.write_stream("g", broken())
    assert not await backend.exists("g")


async def test_list_under_prefix_is_recursive_and_folder_scoped(backend: StorageBackend) -> None:
    for key in ["a/b/1", "a/b/c/2", "a/bc/3", "z"]:
        await backend.write(key, key.encode())
    assert sorted(i.key for i in [x async for x in backend.list("a/b")]) == ["a/b/1", "a/b/c/2"]
    assert sorted([i.key async for i in backend.list("a/b/")]) == ["a/b/1", "a/b/c/2"]
    assert sorted([i.key async for i in backend.list("")]) == ["a/b/1", "a/b/c/2", "a/bc/3", "z"]
    assert [i async for i in backend.list("missing")] == []
    sizes = {i.key: i.size async for i in backend.list("a")}
    assert sizes["a/bc/3"] == 6


async def test_list_keys_gives_the_keys_list_gives(backend: StorageBackend) -> None:
    for key in ["a/b/1", "a/b/c/2", "a/bc/3", "z"]:
        await backend.write(key, key.encode())
    for prefix in ["", "a", "a/b", "a/b/", "missing"]:
        listed = sorted([i.key async for i in backend.list(prefix)])
        assert sorted([k async for k in backend.list_keys(prefix)]) == listed
    with pytest.raises(InvalidKeyError):
        [k async for k in backend.list_keys("../up")]


async def test_delete(backend: StorageBackend) -> None:
    await backend.write("d/x", b"1")
    await backend.delete("d/x")
    assert not await backend.exists("d/x")
    await backend.delete("d/x")  # idempotent


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused_and_nothing_written(backend: StorageBackend, key: str) -> None:
    await backend.write("keep", b"kept")
    with pytest.raises(InvalidKeyError) as info:
        await backend.write(key, b"evil")
    assert isinstance(info.value, ValueError)
    assert repr(key)[:40].strip("'") in str(info.value) or len(key) > 40
    for op in (backend.read, backend.exists, backend.stat, backend.delete):
        with pytest.raises(ValueError):
            await op(key)
    with pytest.raises(ValueError):
        await backend.write_stream(key, _chunks(b"evil"))
    assert [i.key async for i in backend.list()] == ["keep"]
    assert await backend.read("keep") == b"kept"


async def test_location_names_the_key(backend: StorageBackend) -> None:
    loc = backend.location("m/r/config.json")
    assert loc.endswith("m/r/config.json")
    assert backend.name


async def test_write_many_stores_each_object(backend: StorageBackend) -> None:
    await backend.write("m/old", b"old")
    await backend.write_many({"m/a": b"1", "m/b/c": b"22", "m/old": b"new", "m/.marker": b"done"})
    assert {i.key: i.size async for i in backend.list("m")} == {
        "m/a": 1,
        "m/b/c": 2,
        "m/old": 3,
        "m/.marker": 4,
    }
    assert await backend.read("m/old") == b"new"


async def test_write_many_refuses_a_bad_key_before_writing(backend: StorageBackend) -> None:
    with pytest.raises(InvalidKeyError):
        await backend.write_many({"ok/1": b"1", "../evil": b"2"})
    assert [i async for i in backend.list()] == []


async def test_read_many_leaves_missing_keys_out(backend: StorageBackend) -> None:
    await backend.write_many({"r/a": b"1", "r/b": b"22"})
    assert await backend.read_many(["r/a", "r/missing", "r/b"]) == {"r/a": b"1", "r/b": b"22"}
    assert await backend.read_many([]) == {}
    with pytest.raises(InvalidKeyError):
        await backend.read_many(["r/a", "../x"])


async def test_read_stream_of_a_byte_range(backend: StorageBackend) -> None:
    data = bytes(range(256)) * 400  # 102,400 bytes
    await backend.write("r/blob", data)

    async def read(**kwargs: int | None) -> bytes:
        return b"".join([c async for c in backend.read_stream("r/blob", chunk_size=4096, **kwargs)])

    assert await read(start=1000, end=5000) == data[1000:5000]
    assert await read(start=100_000) == data[100_000:]
    assert await read(end=10) == data[:10]
    assert await read(start=5, end=5) == b""
    assert await read(start=200_000) == b""
    assert await read(start=102_399, end=200_000) == data[-1:]
    with pytest.raises(FileNotFoundError):
        async for _ in backend.read_stream("r/missing", start=1, end=2):
            pass
