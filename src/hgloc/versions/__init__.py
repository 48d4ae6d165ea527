"""Versions: revisions side by side, the store's refs beside the Hub's, lock files.

``_refs`` compares what the store holds per revision name with the Hub's
branches and tags; ``_api`` holds the documented functions (``refs``,
``lock``, locked prefetch and verify). Files shared between revisions are
hard links (:mod:`hgloc.store._links`).
"""

from __future__ import annotations

from hgloc.versions._api import (
    lock,
    locked_prefetch,
    refs,
    refs_in_store,
    stored_refs,
    verify_locked,
)
from hgloc.versions._refs import RefRow, RefsReport, RefState, StoredRef, compare_refs

__all__ = [
    "RefRow",
    "RefState",
    "RefsReport",
    "StoredRef",
    "compare_refs",
    "lock",
    "locked_prefetch",
    "refs",
    "refs_in_store",
    "stored_refs",
    "verify_locked",
]
