"""Putting one file in place: a reflink, a hard link, or a streamed copy checked against its hash.

Every file lands atomically (a temp name beside the target, then a rename), so a
reader never sees half a file and an interrupted export leaves no damaged one.

Hard links share the bytes *and* the inode with the store: a tool that writes a
linked file in place (some editors do, for files with several links) would change
the store's copy too. So hard links are used only for files of at least
``link_min_size`` (weights, which nobody edits); smaller files are reflinked
(copy-on-write, safe) where the filesystem can, else copied.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import hashlib
import os
import secrets
from collections.abc import AsyncIterable, Callable
from pathlib import Path

import anyio
import anyio.to_thread

from hgloc.errors import IntegrityError
from hgloc.layout import FileRecord

__all__ = [
    "LINK_MIN_SIZE",
    "FileHasher",
    "Placement",
    "copy_chunks",
    "hash_file",
    "link_file",
    "local_chunks",
    "symlink_atomic",
    "write_atomic",
]

LINK_MIN_SIZE = 1 << 20
CHUNK = 1 << 20
_TMP_PREFIX = ".hgloc-tmp-"  # the local store hides these from listings
_FICLONE = 0x40049409  # linux/fs.h: share a file's extents (btrfs, xfs, bcachefs)
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


class Placement(enum.Enum):
    """How a file got to its place."""

    REFLINK = "reflink"
    HARDLINK = "hardlink"
    COPY = "copy"
    KEPT = "kept"  # already there with the right size


class FileHasher:
    """The hash a file is named by: sha256 for LFS files, git blob sha1 for the others."""

    def __init__(self, record: FileRecord) -> None:
        self.record = record
        self.expected = record.sha256 or record.sha1
        if record.sha256:
            self._hash = hashlib.sha256()
        else:
            self._hash = hashlib.sha1(usedforsecurity=False)
            self._hash.update(b"blob %d\0" % record.size)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def ok(self) -> bool:
        """Whether the bytes seen are the recorded ones (size, and hash when one is recorded)."""
        if self.size != self.record.size:
            return False
        return self.expected is None or self._hash.hexdigest() == self.expected

    def problem(self) -> str:
        """Why the bytes are not the recorded ones (for messages)."""
        if self.size != self.record.size:
            return f"{self.size} bytes where {self.record.size} were recorded"
        algo = "sha256" if self.record.sha256 else "git sha1"
        return f"{algo} {self._hash.hexdigest()} where {self.expected} was recorded"


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent / f"{_TMP_PREFIX}{secrets.token_hex(8)}"


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _try_reflink(src: Path, tmp: Path) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    try:
        with open(src, "rb") as source, open(tmp, "wb") as target:
            fcntl.ioctl(target.fileno(), _FICLONE, source.fileno())
    except OSError:
        _unlink(tmp)
        return False
    return True


def link_file(
    src: Path, dst: Path, *, size: int, hard_links: bool, link_min_size: int
) -> Placement | None:
    """Reflink, or hard link, ``src`` to ``dst``; ``None`` when neither works (copy it then).

    Blocking: run it in a worker thread. ``dst`` already holding ``size`` bytes
    from the same inode is kept.
    """
    try:
        if os.path.samefile(src, dst):
            return Placement.KEPT
    except OSError:
        pass
    tmp = _temp_beside(dst)
    placement: Placement | None = None
    if _try_reflink(src, tmp):
        placement = Placement.REFLINK
    elif hard_links and size >= link_min_size:
        try:
            os.link(src, tmp)
            placement = Placement.HARDLINK
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
    if placement is None:
        return None
    try:
        os.replace(tmp, dst)
    except BaseException:
        _unlink(tmp)
        raise
    return placement


async def local_chunks(path: Path) -> AsyncIterable[bytes]:
    """The bytes of a local file in chunks, read without blocking the loop."""
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(CHUNK):
            yield chunk


async def copy_chunks(
    chunks: AsyncIterable[bytes],
    dst: Path,
    record: FileRecord,
    *,
    what: str,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Write ``chunks`` to ``dst`` atomically, checked against ``record`` before it lands.

    Bytes that are not the recorded ones raise :class:`IntegrityError` naming
    ``what``, and nothing is left at ``dst`` (an older file there stays).
    """
    tmp = await anyio.to_thread.run_sync(_temp_beside, dst)
    hasher = FileHasher(record)
    try:
        async with await anyio.open_file(tmp, "wb") as handle:
            async for chunk in chunks:
                hasher.update(chunk)
                await handle.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        if not hasher.ok:
            raise IntegrityError(f"{what} is damaged: {hasher.problem()}")
        await anyio.to_thread.run_sync(os.replace, tmp, dst)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_unlink, tmp)
        raise


def hash_file(path: Path, record: FileRecord) -> FileHasher:
    """Hash a local file as ``record`` says it is named. Blocking: run it in a thread."""
    hasher = FileHasher(record)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher


def write_atomic(path: Path, data: bytes) -> None:
    """Write a small file atomically (refs, tree listings). Blocking."""
    tmp = _temp_beside(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def symlink_atomic(target: str, path: Path) -> None:
    """Make ``path`` a symlink to ``target``, replacing what was there. Blocking."""
    try:
        if os.readlink(path) == target:
            return
    except OSError:
        pass
    tmp = _temp_beside(path)
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
