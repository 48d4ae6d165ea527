"""What only the local folder store does: files on disk, symlinks, temp files."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hgloc.backends import LocalBackend
from hgloc.errors import StorePermissionError

pytestmark = pytest.mark.anyio


async def test_objects_are_plain_files_at_their_key(tmp_path: Path) -> None:
    store = LocalBackend(tmp_path)
    await store.write("org_m/main/config.json", b"{}")
    assert (tmp_path / "org_m" / "main" / "config.json").read_bytes() == b"{}"
    assert store.location("org_m/main") == str(tmp_path / "org_m" / "main")


async def test_symlinked_folder_pointing_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "store"
    root.mkdir()
    os.symlink(outside, root / "escape")
    store = LocalBackend(root)
    with pytest.raises(StorePermissionError, match="outside the store"):
        await store.write("escape/x", b"evil")
    assert list(outside.iterdir()) == []


async def test_interrupted_stream_leaves_no_temp_file(tmp_path: Path) -> None:
    store = LocalBackend(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise ConnectionError("dropped")

    with pytest.raises(ConnectionError):
        await store.write_stream("m/big.bin", broken())
    assert [p.name for p in (tmp_path / "m").iterdir()] == []


async def test_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        store = LocalBackend(tmp_path)
        await store.write("m/config.json", b"{}")
        await store.write_many({"m/a": b"1"})
    finally:
        os.umask(umask)
    assert (tmp_path / "m" / "config.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "m" / "a").stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="needs posix_fadvise to evict")
async def test_read_stream_gives_the_same_bytes_cold_and_cached(tmp_path: Path) -> None:
    # A cached chunk is read on the event loop, an uncached one in a thread:
    # both must give the file's bytes, each chunk its own immutable bytes.
    data = os.urandom(3 * 65536 + 123)
    store = LocalBackend(tmp_path)
    await store.write("m/w.bin", data)
    path = tmp_path / "m" / "w.bin"
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # out of the page cache
    for _ in range(2):  # cold (as far as the kernel lets us), then cached
        chunks = [c async for c in store.read_stream("m/w.bin", chunk_size=65536)]
        assert all(type(c) is bytes for c in chunks)
        assert [len(c) for c in chunks] == [65536, 65536, 65536, 123]
        assert b"".join(chunks) == data
    ranged = store.read_stream("m/w.bin", start=65000, end=140000, chunk_size=65536)
    assert b"".join([c async for c in ranged]) == data[65000:140000]
