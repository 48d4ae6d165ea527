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
