"""Temp files a killed writer left in a model folder, removed when the folder is written again.

The local store writes each file to a hidden ``.hgloc-tmp-*`` beside its target
and renames it into place; ``kill -9`` between the two leaves the temp file. The
caller holds the folder's lock across processes (:meth:`FolderLocks.exclusive`),
so no writer is using any temp file in it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio.to_thread

from hgloc.backends import LocalPaths, StorageBackend
from hgloc.layout import METADATA_FILE

__all__ = ["TEMP_PREFIX", "remove_leftovers", "remove_leftovers_in"]

logger = logging.getLogger("hgloc")

TEMP_PREFIX = ".hgloc-tmp-"  # the local backend's temp files (backends/_local.py)


async def remove_leftovers(backend: StorageBackend, prefix: str) -> int:
    """Remove the temp files under the model folder at ``prefix``; return how many."""
    if not isinstance(backend, LocalPaths):
        return 0  # other stores write objects whole: nothing is left behind
    folder = backend.target_path(f"{prefix}/{METADATA_FILE}").parent  # refuses symlinks out
    return await anyio.to_thread.run_sync(remove_leftovers_in, folder)


def remove_leftovers_in(folder: Path) -> int:
    """:func:`remove_leftovers` for a local folder, blocking (run in a worker thread)."""
    removed = _remove(str(folder))
    if removed:
        logger.info("removed %d temp files a killed run left in %s", removed, folder)
    return removed


def _remove(folder: str) -> int:
    removed = 0
    for here, _, files in os.walk(folder):  # symlinked folders are not entered
        for name in files:
            if name.startswith(TEMP_PREFIX):
                try:
                    os.unlink(os.path.join(here, name))
                except FileNotFoundError:
                    continue
                removed += 1
    return removed
