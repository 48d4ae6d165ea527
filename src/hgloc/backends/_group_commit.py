"""Group commit for small local writes: many callers, one thread hop, one filesystem sync.

A bulk prefetch writes three small files per model, from dozens of tasks at
once. Writing each with its own thread hop and ``fsync`` cost more CPU than
fetching it. Here the first caller becomes the leader: it takes every write
waiting at that moment, writes them to temp files in one worker thread, makes
them durable with one ``syncfs`` of the store's filesystem (``fsync`` per file
where ``syncfs`` is missing), then renames each into place, in each caller's
order. Callers that arrive meanwhile are served by the leader's next round.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
import attrs

__all__ = ["GroupCommitter"]


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return syncfs


_SYNCFS = _load_syncfs()
logger = logging.getLogger("hgloc")


def _make_folder(folder: Path) -> None:
    # One mkdir in the common case (the parent exists); makedirs walks the path.
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)


@attrs.define
class _Job:
    """One caller's writes, to become visible in this order."""

    paths: list[tuple[Path, bytes]]
    done: anyio.Event = attrs.field(factory=anyio.Event)
    temps: list[tuple[str, Path]] = attrs.field(factory=list)
    error: BaseException | None = None


class GroupCommitter:
    """Batches atomic small-file writes under ``root`` (see the module docstring)."""

    def __init__(self, root: str, temp_prefix: str, unlink: Callable[[str], None]) -> None:
        self._root = root
        # Unique per process (pid) and per write (counter): cheaper than random names.
        self._temp_prefix = f"{temp_prefix}{os.getpid()}-{id(self):x}-"
        self._counter = itertools.count()
        self._unlink = unlink
        self._pending: list[_Job] = []
        self._leading = False

    async def write(self, paths: list[tuple[Path, bytes]]) -> None:
        """Write every ``(path, data)`` atomically; when this returns they are durable."""
        job = _Job(paths)
        self._pending.append(job)
        if self._leading:
            await job.done.wait()
        else:
            self._leading = True
            try:
                # Shielded: followers are waiting for this round, whatever happens
                # to the task that happened to lead it.
                with anyio.CancelScope(shield=True):
                    while self._pending:
                        batch, self._pending = self._pending, []
                        try:
                            await anyio.to_thread.run_sync(self._commit, batch)
                        except BaseException as exc:
                            # No caller may think its write landed when the round broke.
                            for waiting in batch:
                                if waiting.error is None:
                                    waiting.error = exc
                        finally:
                            for waiting in batch:
                                waiting.done.set()
            finally:
                self._leading = False
        if job.error is not None:
            raise job.error

    def _commit(self, batch: list[_Job]) -> None:
        folders: set[Path] = set()  # made (or found) in this round
        for job in batch:
            try:
                for path, data in job.paths:
                    if path.parent not in folders:
                        _make_folder(path.parent)
                        folders.add(path.parent)
                    tmp = f"{path.parent}/{self._temp_prefix}{next(self._counter)}"
                    # O_EXCL: the name is this process's; 0o666 minus the umask.
                    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
                    job.temps.append((tmp, path))
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view) :]
                        if _SYNCFS is None:
                            os.fsync(fd)
                    finally:
                        os.close(fd)
            except BaseException as exc:
                job.error = exc
                self._discard(job)
        if _SYNCFS is not None:
            try:
                self._syncfs()
            except OSError as exc:
                for job in batch:
                    if job.error is None:
                        job.error = exc
                        self._discard(job)
        for job in batch:
            if job.error is not None:
                continue
            try:
                while job.temps:
                    tmp, path = job.temps[0]
                    os.replace(tmp, path)
                    job.temps.pop(0)
            except BaseException as exc:
                job.error = exc
                self._discard(job)

    def _syncfs(self) -> None:
        assert _SYNCFS is not None
        fd = os.open(self._root, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs failed: {os.strerror(err)}", self._root)
        finally:
            os.close(fd)

    def _discard(self, job: _Job) -> None:
        # Best effort: the caller already has the error that matters.
        for tmp, _ in job.temps:
            try:
                self._unlink(tmp)
            except OSError:
                logger.warning("could not remove the temp file %s", tmp)
        job.temps.clear()
