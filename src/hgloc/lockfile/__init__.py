"""Lock files: the exact commit and bytes of each model a team runs.

:class:`LockFile` is the TOML file as data (``_model``); :func:`make_lock`,
:func:`fetch_locked` and :func:`check_locked` use it against a store
(``_ops``). The format is in ``docs/versions-and-collections.md``.
"""

from __future__ import annotations

from hgloc.lockfile._model import (
    DEFAULT_LOCK_FILE,
    LockedFile,
    LockedModel,
    LockFile,
    LockFileError,
)
from hgloc.lockfile._ops import (
    LockMismatchError,
    NotStoredError,
    check_locked,
    fetch_locked,
    make_lock,
)

__all__ = [
    "DEFAULT_LOCK_FILE",
    "LockFile",
    "LockFileError",
    "LockMismatchError",
    "LockedFile",
    "LockedModel",
    "NotStoredError",
    "check_locked",
    "fetch_locked",
    "make_lock",
]
