"""One big file: byte ranges over several connections, into a staging file, hashed in order.

The parts are fetched in parallel into one staging file at their offsets; a
reader follows right behind the parts in file order, hashing what they wrote
(and, for stores other than a local folder, handing it to the store's streaming
write). Only a file whose hash matches becomes visible: a local store gets the
staging file renamed into place; any other store sees the mismatch raised from
inside its streaming write, which then stores nothing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import attrs

from hgloc._aio import gather
from hgloc.backends import LocalPaths, StorageBackend
from hgloc.errors import IntegrityError, ObjectNotFoundError
from hgloc.sources import HuggingFaceSource, TreeEntry
from hgloc.sources._hub_protocol import git_blob_sha1
from hgloc.sources._ranges import Part
from hgloc.transfer._parts import PartPlan
from hgloc.transfer._staging import StagedFile

if TYPE_CHECKING:
    from typing_extensions import Buffer  # typing.Buffer from Python 3.12 on

__all__ = [
    "ByteProgress",
    "HashMismatchError",
    "Progress",
    "TransferSettings",
    "fetch_big_file",
    "stored_matches",
    "verify_bytes",
]

logger = logging.getLogger("hgloc")

ByteProgress = Callable[[str, int, int], object]
"""``on_bytes(path, done, total)``: a file's bytes so far, or the model's when ``path == ""``."""

_READ_SIZE = 2 << 20  # how much the hashing reader takes from the staging file at once
_MAX_PENDING = 256  # chunks gathered before a write, whatever their size


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class TransferSettings:
    """How whole files are fetched; the defaults suit a fast link to the Hub.

    - ``part_size``: bytes per range request of a big file.
    - ``split_above``: files larger than this are fetched in parts, in parallel.
    - ``in_memory_max``: files up to this size are fetched into memory in one request.
    - ``connections_per_file``: parts of one file in flight at once (the localizer's
      ``concurrency`` bounds all requests together).
    - ``buffer_size``: bytes a part gathers before one write to disk.
    - ``progress_interval``: seconds between two ``on_bytes`` calls for one path.
    - ``staging_dir``: where big files are assembled; default ``<store>/.hgloc-partial``
      for a local store, a temp folder otherwise.
    - ``max_file_size``: a file listed larger than this fails its model before any byte
      is fetched or staged. The default, 512 GiB, is ten times the Hub's own limit per
      file (50 GB): only a damaged or hostile file list goes past it.
    """

    part_size: int = attrs.field(default=16 << 20, validator=_positive)
    split_above: int = attrs.field(default=16 << 20, validator=_positive)
    in_memory_max: int = attrs.field(default=1 << 20, validator=_positive)
    connections_per_file: int = attrs.field(default=8, validator=_positive)
    buffer_size: int = attrs.field(default=1 << 20, validator=_positive)
    progress_interval: float = 0.1
    staging_dir: Path | None = None
    max_file_size: int = attrs.field(default=512 << 30, validator=_positive)


class HashMismatchError(IntegrityError):
    """A whole file's hash differs from the one the Hub lists (a retry may succeed)."""


class Progress:
    """Calls ``on_bytes`` at most every ``interval`` seconds per path, and always at the end."""

    def __init__(self, callback: ByteProgress | None, total: int, interval: float) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        self.interval = interval
        self._last: dict[str, float] = {}

    def start(self) -> None:
        """Report the total once, before the first byte."""
        if self.callback is not None:
            self._last[""] = time.monotonic()
            self.callback("", self.done, self.total)

    def add(self, n: int, path: str | None = None, file_done: int = 0, file_total: int = 0) -> None:
        """``n`` more bytes of the model; for a big file, also its own count."""
        self.done += n
        if self.callback is None:
            return
        now = time.monotonic()
        if path is not None:
            self._emit(path, file_done, file_total, now)
        self._emit("", self.done, self.total, now)

    def _emit(self, path: str, done: int, total: int, now: float) -> None:
        if done < total and now - self._last.get(path, -1e9) < self.interval:
            return
        self._last[path] = now
        assert self.callback is not None
        self.callback(path, done, total)


class _Hasher:
    """The hash the file list announces for a file: sha256 (LFS) or git blob sha1."""

    def __init__(self, entry: TreeEntry) -> None:
        self.path = entry.path
        if entry.sha256 is not None:
            self.kind, self.expected = "sha256", entry.sha256
            self._hash = hashlib.sha256()
        else:
            self.kind, self.expected = "git sha1", entry.oid
            self._hash = hashlib.sha1(b"blob %d\0" % entry.size, usedforsecurity=False)

    def update(self, data: Buffer) -> None:
        self._hash.update(data)

    def matches(self) -> bool:
        return self._hash.hexdigest() == self.expected

    def check(self) -> None:
        actual = self._hash.hexdigest()
        if actual != self.expected:
            raise HashMismatchError(
                f"{self.path}: {self.kind} mismatch (the Hub lists {self.expected}, the bytes "
                f"received hash to {actual}); nothing was stored"
            )


def verify_bytes(data: bytes, entry: TreeEntry) -> None:
    """Check a file fetched into memory against its file-list entry."""
    if len(data) != entry.size:
        raise IntegrityError(
            f"{entry.path}: received {len(data)} bytes, the file list says {entry.size}; "
            "nothing was stored"
        )
    if entry.sha256 is not None:
        actual, kind, expected = hashlib.sha256(data).hexdigest(), "sha256", entry.sha256
    else:
        actual, kind, expected = git_blob_sha1(data), "git sha1", entry.oid
    if actual != expected:
        raise IntegrityError(
            f"{entry.path}: {kind} mismatch (the Hub lists {expected}, the bytes received "
            f"hash to {actual}); nothing was stored"
        )


async def stored_matches(backend: StorageBackend, key: str, entry: TreeEntry) -> bool:
    """Whether the stored object at ``key`` holds exactly the file ``entry`` lists."""
    hasher = _Hasher(entry)
    size = 0
    try:
        async for chunk in backend.read_stream(key):
            hasher.update(chunk)
            size += len(chunk)
    except ObjectNotFoundError:
        return False
    return size == entry.size and hasher.matches()


class _PartsState:
    """Bytes on disk per part, and a wake-up for the reader waiting on a part."""

    def __init__(self, done: list[int]) -> None:
        self.done = done
        self._events: dict[int, anyio.Event] = {}  # only the part the reader waits on

    def advance(self, index: int, n: int) -> None:
        self.done[index] += n
        event = self._events.pop(index, None)
        if event is not None:
            event.set()

    async def wait(self, index: int) -> None:
        await self._events.setdefault(index, anyio.Event()).wait()


@attrs.define
class BigFileJob:
    """Everything :func:`fetch_big_file` needs about one file and where it goes."""

    source: HuggingFaceSource
    backend: StorageBackend
    key: str
    repo_id: str
    commit: str
    entry: TreeEntry
    settings: TransferSettings
    slots: anyio.Semaphore
    staging: Path
    progress: Progress
    rename_into_place: bool  # the backend is local, on the staging folder's filesystem


async def fetch_big_file(job: BigFileJob) -> None:
    """Fetch, verify and store one file; a hash mismatch is retried once from scratch."""
    try:
        await _Attempt(job).run()
    except HashMismatchError as exc:
        logger.warning("%s; fetching it again", exc)
        await _Attempt(job).run()


class _Attempt:
    """One pass over a big file: parts into the staging file, a reader hashing behind them."""

    def __init__(self, job: BigFileJob) -> None:
        self.job = job
        entry, settings = job.entry, job.settings
        self.entry = entry
        self.parts = PartPlan(
            entry.size, part_size=settings.part_size, split_above=settings.split_above
        )
        # Named by content: a resumed run finds the bytes of this very file, never another's.
        stem = hashlib.sha1(
            f"{entry.path}\0{entry.oid}\0{entry.sha256}".encode(), usedforsecurity=False
        ).hexdigest()[:24]
        self.staged = StagedFile(job.staging, stem, entry.size, self.parts)
        self.hasher = _Hasher(entry)
        self.state = _PartsState([0] * len(self.parts))
        self.file_done = 0

    async def run(self) -> None:
        job, staged = self.job, self.staged
        try:
            self.state = _PartsState(await anyio.to_thread.run_sync(staged.open))
            self._advance(sum(self.state.done))  # bytes kept from an interrupted run
            last = self._hash_only if job.rename_into_place else self._store
            # A few workers take the parts in order: nothing is made per part up front.
            todo = iter(self.parts)
            workers = min(job.settings.connections_per_file, len(self.parts))
            fetchers = [functools.partial(self._fetch_parts, todo) for _ in range(workers)]
            await gather(*fetchers, last)
            if job.rename_into_place:
                assert isinstance(job.backend, LocalPaths)
                target = job.backend.target_path(job.key)  # refuses symlinks out of the store
                await anyio.to_thread.run_sync(staged.move_to, target)
            else:
                await anyio.to_thread.run_sync(staged.discard)
        except HashMismatchError:
            job.progress.add(-self.file_done, self.entry.path, 0, self.entry.size)
            await anyio.to_thread.run_sync(staged.discard)
            raise
        finally:
            staged.close()  # cheap, and must also run when cancelled

    def _advance(self, n: int) -> None:
        self.file_done += n
        self.job.progress.add(n, self.entry.path, self.file_done, self.entry.size)

    async def _fetch_parts(self, todo: Iterator[Part]) -> None:
        for part in todo:
            await self._fetch_part(part)

    async def _fetch_part(self, part: Part) -> None:
        start = part.start + self.state.done[part.index]
        if start >= part.end:
            return
        job = self.job
        async with job.slots:
            pending: list[bytes] = []
            pending_size = 0
            offset = start
            chunks = job.source.stream(
                job.repo_id,
                job.commit,
                self.entry.path,
                start=start,
                end=None if part.end == self.entry.size else part.end,  # no Range if whole
                size=self.entry.size,
            )
            async with aclosing(chunks):
                async for chunk in chunks:
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= job.settings.buffer_size or len(pending) >= _MAX_PENDING:
                        await self._write(part, offset, pending, pending_size)
                        offset += pending_size
                        pending, pending_size = [], 0
            await self._write(part, offset, pending, pending_size)

    async def _write(self, part: Part, offset: int, chunks: list[bytes], size: int) -> None:
        if not size:
            return
        done = offset + size - part.start
        await anyio.to_thread.run_sync(self.staged.write, part, offset, chunks, done)
        self.state.advance(part.index, size)
        self._advance(size)

    async def _ranges(self) -> AsyncGenerator[tuple[int, int], None]:
        """``(offset, length)`` of the file's bytes in order, as soon as the parts wrote them."""
        pos = 0
        for part in self.parts:
            while pos < part.end:
                available = part.start + self.state.done[part.index]
                if available <= pos:
                    await self.state.wait(part.index)
                    continue
                length = min(available - pos, _READ_SIZE)
                yield pos, length
                pos += length

    async def _hash_only(self) -> None:
        scratch = bytearray(min(_READ_SIZE, self.entry.size))
        async with aclosing(self._ranges()) as ranges:
            async for pos, length in ranges:
                await anyio.to_thread.run_sync(
                    self.staged.hash_range, pos, length, self.hasher, scratch
                )
        self.hasher.check()

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        async with aclosing(self._ranges()) as ranges:
            async for pos, length in ranges:
                yield await anyio.to_thread.run_sync(
                    self.staged.read_and_hash, pos, length, self.hasher
                )
        self.hasher.check()  # raised inside the streaming write, so that nothing lands

    async def _store(self) -> None:
        async with aclosing(self._chunks()) as chunks:
            await self.job.backend.write_stream(self.job.key, chunks)
