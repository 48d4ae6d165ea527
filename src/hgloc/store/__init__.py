"""Model folders inside a storage backend: save, load, list, and lock them.

A folder counts as cached only when its metadata file exists; it is written
last and removed first (see :class:`ModelStore`).
"""

from __future__ import annotations

from hgloc.store._leftovers import remove_leftovers
from hgloc.store._listing import cached_models
from hgloc.store._locks import FolderLocks, model_folder_lock
from hgloc.store._model_store import CachedModel, ModelStore, StoredModel

__all__ = [
    "CachedModel",
    "FolderLocks",
    "ModelStore",
    "StoredModel",
    "cached_models",
    "model_folder_lock",
    "remove_leftovers",
]
