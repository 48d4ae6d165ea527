"""Who may write a model folder: one task in this process, one process on this machine."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread

from hgloc.backends import LocalPaths, StorageBackend
from hgloc.layout import METADATA_FILE
from hgloc.store._leftovers import remove_leftovers, remove_leftovers_in

__all__ = ["FolderLocks", "model_folder_lock"]

_LOCK_POLL = 0.05

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None  # type: ignore[assignment]


class FolderLocks:
    """One lock per model folder, so two tasks of one localizer never write it at once."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self._locks: dict[str, anyio.Lock] = {}

    def task_lock(self, prefix: str) -> anyio.Lock:
        """The in-process lock of the folder at ``prefix``."""
        return self._locks.setdefault(prefix, anyio.Lock())

    @contextlib.asynccontextmanager
    async def exclusive(self, prefix: str, *, clean: bool = False) -> AsyncIterator[None]:
        """The folder's in-process lock, then (local stores) its lock across processes.

        ``clean``: once the folder is held, remove the temp files a killed writer
        left in it (:func:`~hgloc.store.remove_leftovers`).
        """
        async with self.task_lock(prefix), model_folder_lock(self.backend, prefix, clean=clean):
            yield


@contextlib.asynccontextmanager
async def model_folder_lock(
    backend: StorageBackend, prefix: str, *, clean: bool = False
) -> AsyncIterator[None]:
    """Keep other processes out of a local model folder while this one completes it.

    Two runs completing one full model at once would share its staging files, and
    the first to finish would move them into place from under the other. An
    ``flock`` on the model folder itself (which is never deleted) makes the second
    wait; it then finds the model complete. Other stores, and platforms without
    ``flock``, get no lock: their staging is private to the process.

    ``clean``: once held, the temp files a killed writer left in the folder are
    removed (:func:`~hgloc.store.remove_leftovers`).
    """
    if not isinstance(backend, LocalPaths) or _fcntl is None:
        if clean:
            await remove_leftovers(backend, prefix)
        yield
        return
    folder = backend.target_path(f"{prefix}/{METADATA_FILE}").parent  # refuses symlinks out
    # A bulk run takes this lock for every model it stores. A folder not there yet
    # (each model of a cold run) is made, locked and found empty by a few system
    # calls, cheaper than a thread hop; an existing one, whose walk may be long, is
    # opened, locked and cleaned in one hop when no one else holds it.
    if os.path.lexists(folder):  # noqa: ASYNC240 - see above
        fd, locked = await anyio.to_thread.run_sync(_open_and_lock, folder, clean)
    else:
        fd, locked = _open_and_lock(folder, clean)
    try:
        if not locked:
            # Polled: a thread blocked in flock could not be cancelled. No Event can
            # tell us when another process lets go.
            while not _try_lock(fd):  # noqa: ASYNC110
                await anyio.sleep(_LOCK_POLL)
            if clean:
                await anyio.to_thread.run_sync(remove_leftovers_in, folder)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_and_lock(folder: Path, clean: bool) -> tuple[int, bool]:
    """Open ``folder`` and try its lock once; got it and ``clean``: remove leftovers too."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        locked = _try_lock(fd)
        if locked and clean:
            remove_leftovers_in(folder)
    except BaseException:
        os.close(fd)
        raise
    return fd, locked


def _try_lock(fd: int) -> bool:
    assert _fcntl is not None
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
