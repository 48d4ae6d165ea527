"""Sizes a file list announces, checked before anything is staged or fetched.

A hostile or damaged file list can announce any size: ``2**47`` bytes, or one TiB
that would leave a sparse staging file of that size. A model fails cleanly when a
file is larger than ``TransferSettings.max_file_size``, or when its files need more
room than the disks they go to have free.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from hgloc.errors import HglocError, ResponseTooLargeError
from hgloc.sources import TreeEntry

__all__ = ["NotEnoughSpaceError", "check_sizes", "free_bytes"]


class NotEnoughSpaceError(HglocError, OSError):
    """The files of a model need more room than the disk they go to has free."""


def check_sizes(
    model_id: str,
    todo: Mapping[str, TreeEntry],
    *,
    max_file_size: int,
    needs: Mapping[Path, int],
) -> None:
    """Refuse a plan with a file over ``max_file_size`` or more bytes than a disk has free.

    ``needs`` maps a folder to the bytes the plan writes on its filesystem.
    """
    for entry in todo.values():
        if entry.size > max_file_size:
            raise ResponseTooLargeError(
                f"{model_id!r}: the file list gives {entry.path!r} {_size(entry.size)}, more "
                f"than the {_size(max_file_size)} hgloc accepts for one file "
                "(TransferSettings.max_file_size); nothing was fetched"
            )
    for folder, need in needs.items():
        free = free_bytes(folder)
        if free is not None and need > free:
            raise NotEnoughSpaceError(
                f"{model_id!r} needs {_size(need)} in {folder}, which has {_size(free)} free; "
                "free some space (or narrow the files with include/exclude patterns); "
                "nothing was fetched"
            )


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the filesystem of ``folder`` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except FileNotFoundError:
            continue
        except OSError:
            return None  # cannot tell: let the writes find out
    return None


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
