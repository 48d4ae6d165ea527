"""The local staging area of full-model downloads: big files being assembled, and a journal.

Blocking file operations, run in worker threads by the async code. Layout under
the staging root (``<local store>/.hgloc-partial``, or a temp folder for other
stores)::

    <model folder prefix>/<commit>/
        journal.jsonl       one line per file already verified and stored
        <stem>.partial      a big file being fetched, written at its parts' offsets
        <stem>.parts        a header, then how many bytes of each part are on disk

A kill at any moment leaves this consistent enough to resume: a part's counter
is written after its bytes, and a resumed file is hashed in full before it is
stored, so a counter that ran ahead of the disk costs a refetch, never bad data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hgloc.backends import LocalPaths, MemoryBackend, StorageBackend
from hgloc.layout import FileRecord

if TYPE_CHECKING:
    from typing_extensions import Buffer  # typing.Buffer from Python 3.12 on

    from hgloc.sources._ranges import Part

__all__ = [
    "STAGING_FOLDER",
    "Journal",
    "StagedFile",
    "model_staging",
    "remove_model_staging",
    "same_filesystem",
    "staging_root",
]

logger = logging.getLogger("hgloc")

STAGING_FOLDER = ".hgloc-partial"
_JOURNAL = "journal.jsonl"
_HEADER = struct.Struct("<4sIQQQ")  # magic, version, file size, first part length, part count
_MAGIC = b"HGLP"
_VERSION = 1
_COUNTER = struct.Struct("<Q")


class _Hash(Protocol):
    def update(self, data: Buffer, /) -> None: ...


def staging_root(backend: StorageBackend, override: Path | None = None) -> Path:
    """Where a store's downloads are staged: beside a local store, so a rename lands them."""
    if override is not None:
        return override
    if isinstance(backend, LocalPaths):
        return backend.root / STAGING_FOLDER
    name = backend.name
    # A memory store dies with the process: nothing to resume later. (The backend
    # protocol has no "persistent" flag yet, hence the one class check.)
    if isinstance(backend, MemoryBackend):
        name = f"{name}:{os.getpid()}:{id(backend)}"
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "hgloc-partial" / digest


def model_staging(root: Path, prefix: str, commit: str) -> Path:
    """The staging folder of one model folder at one commit."""
    return root.joinpath(*prefix.split("/"), commit)


def remove_model_staging(root: Path, prefix: str) -> None:
    """Remove a model's staging (every commit), then the folders it leaves empty."""
    folder = root.joinpath(*prefix.split("/"))
    shutil.rmtree(folder, ignore_errors=True)
    for parent in folder.parents:
        if parent != root and root not in parent.parents:
            break
        try:
            parent.rmdir()
        except OSError:
            break  # not empty: another model is being fetched


class Journal:
    """Files of one model folder at one commit that are verified and stored already.

    It lets a rerun after a crash skip them: the metadata file, which lists the
    files of a complete model, is only written at the very end.
    """

    def __init__(self, folder: Path, model_id: str) -> None:
        self.path = folder / _JOURNAL
        self.model_id = model_id
        self._lock = threading.Lock()

    def load(self) -> dict[str, FileRecord]:
        """What earlier runs recorded (damaged lines are ignored: they only cost a refetch)."""
        found: dict[str, FileRecord] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return found
        for line in lines:
            try:
                item = json.loads(line)
                if item["model_id"] == self.model_id:
                    found[str(item["name"])] = FileRecord.from_json(item["file"])
            except (ValueError, KeyError, TypeError, RecursionError):
                continue
        return found

    def add(self, records: Mapping[str, FileRecord]) -> None:
        """Record files as stored (appends; called from several threads)."""
        if not records:
            return
        lines = "".join(
            json.dumps({"model_id": self.model_id, "name": name, "file": rec.as_json()}) + "\n"
            for name, rec in records.items()
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(lines)


class StagedFile:
    """One big file being fetched: a file written at part offsets, plus part counters.

    All methods block; call them from a worker thread. Writes of different parts
    may run in parallel threads (positional writes on one descriptor).
    """

    def __init__(self, folder: Path, stem: str, size: int, parts: Sequence[Part]) -> None:
        self.folder = folder
        self.data_path = folder / f"{stem}.partial"
        self.parts_path = folder / f"{stem}.parts"
        self.size = size
        self.parts = tuple(parts)
        self._fd = -1
        self._counters_fd = -1
        self._header = _HEADER.pack(
            _MAGIC, _VERSION, size, self.parts[0].length if self.parts else 0, len(self.parts)
        )

    def open(self) -> list[int]:
        """Open (or create) the staging files; return the bytes already on disk per part."""
        self.folder.mkdir(parents=True, exist_ok=True)
        had_data = self.data_path.is_file()
        # 0666 minus the umask, like the local store's own files: this one is renamed into it.
        self._fd = os.open(self.data_path, _OPEN_FLAGS, 0o666)
        self._counters_fd = os.open(self.parts_path, _OPEN_FLAGS, 0o666)
        done = self._read_counters() if had_data else None
        if done is None:  # nothing usable: start over
            done = [0] * len(self.parts)
            os.ftruncate(self._counters_fd, 0)
            _pwritev_all(self._counters_fd, [self._header + bytes(8 * len(self.parts))], 0)
            os.ftruncate(self._fd, 0)
        os.ftruncate(self._fd, self.size)  # sparse; bytes already fetched stay
        return done

    def _read_counters(self) -> list[int] | None:
        expected = _HEADER.size + _COUNTER.size * len(self.parts)
        if os.fstat(self._counters_fd).st_size != expected:
            return None
        raw = bytearray(expected)
        _readinto_all(self._counters_fd, memoryview(raw), 0)
        if raw[: _HEADER.size] != self._header:
            return None  # another plan (settings changed) or a damaged file
        counters = struct.unpack_from(f"<{len(self.parts)}Q", raw, _HEADER.size)
        return [min(n, part.length) for n, part in zip(counters, self.parts, strict=True)]

    def write(self, part: Part, offset: int, chunks: Sequence[bytes], done: int) -> None:
        """Write ``chunks`` at file ``offset``, then record ``done`` bytes of ``part`` on disk.

        The chunks go to the kernel as they came off the network: no copy to join them.
        """
        _pwritev_all(self._fd, chunks, offset)
        counter = _HEADER.size + _COUNTER.size * part.index
        _pwritev_all(self._counters_fd, [_COUNTER.pack(done)], counter)

    def read_and_hash(self, offset: int, length: int, hasher: _Hash) -> bytes:
        """``length`` bytes from ``offset``, fed to ``hasher`` on the way (one thread hop)."""
        data = bytearray(length)
        _readinto_all(self._fd, memoryview(data), offset)
        hasher.update(data)
        return bytes(data)

    def hash_range(self, offset: int, length: int, hasher: _Hash, scratch: bytearray) -> None:
        """Feed ``length`` bytes at ``offset`` to ``hasher`` through ``scratch``: no allocation."""
        view = memoryview(scratch)
        start, total = offset, length
        while length:
            size = min(length, len(view))
            _readinto_all(self._fd, view[:size], offset)
            hasher.update(view[:size])
            offset += size
            length -= size
        if _FADVISE:
            # Start writing the hashed bytes to disk now, so the final fsync has little
            # left to wait for (pages still being written stay cached).
            os.posix_fadvise(self._fd, start, total, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        for fd in (self._fd, self._counters_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._counters_fd = -1

    def discard(self) -> None:
        """Remove both files (their content is wrong, or no longer wanted)."""
        self.close()
        for path in (self.data_path, self.parts_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def move_to(self, target: Path) -> None:
        """Make the (verified) file durable and rename it to ``target``, atomically."""
        os.fsync(self._fd)
        self.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.data_path, target)
        with contextlib.suppress(FileNotFoundError):
            self.parts_path.unlink()


def same_filesystem(a: Path, b: Path) -> bool:
    """Whether a rename from under ``a`` to under ``b`` can work (both created if missing)."""
    try:
        a.mkdir(parents=True, exist_ok=True)
        b.mkdir(parents=True, exist_ok=True)
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


# Positional I/O lets parts write from several threads at once; where the platform
# lacks it (Windows), a seek and a transfer are done together under one lock.
_POSITIONAL = hasattr(os, "pwritev") and hasattr(os, "preadv")
_SEEK_LOCK = threading.Lock()
_IOV_MAX = 512  # well under every platform's limit on buffers per call
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
_FADVISE = hasattr(os, "posix_fadvise") and sys.platform.startswith("linux")


def _pwritev_all(fd: int, chunks: Sequence[bytes], offset: int) -> None:
    views = [memoryview(c) for c in chunks if len(c)]
    if not _POSITIONAL:
        with _SEEK_LOCK:
            os.lseek(fd, offset, os.SEEK_SET)
            for view in views:
                while view:
                    view = view[os.write(fd, view) :]
        return
    while views:
        written = os.pwritev(fd, views[:_IOV_MAX], offset)
        offset += written
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


def _readinto_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        if _POSITIONAL:
            got = os.preadv(fd, [view], offset)
        else:
            with _SEEK_LOCK:
                os.lseek(fd, offset, os.SEEK_SET)
                data = os.read(fd, len(view))
            got = len(data)
            view[:got] = data
        if not got:
            raise OSError(f"staging file ended at byte {offset}: it was truncated")
        view = view[got:]
        offset += got
