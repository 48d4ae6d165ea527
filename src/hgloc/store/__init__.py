"""Model folders inside a storage backend: save, load, list, and lock them.

A folder counts as cached only when its metadata file exists; it is written
last and removed first (see :class:`ModelStore`).
"""

from __future__ import annotations

from hgloc.store._aliases import Aliases, resolve_alias
from hgloc.store._foreign import candidate_ids, is_ambiguous, shown_model_id, store_prefix
from hgloc.store._leftovers import remove_leftovers
from hgloc.store._links import place_folder
from hgloc.store._listing import adopt_folder, cached_models
from hgloc.store._locks import FolderLocks, model_folder_lock
from hgloc.store._model_store import CachedModel, ModelStore, StoredModel

__all__ = [
    "Aliases",
    "CachedModel",
    "FolderLocks",
    "ModelStore",
    "StoredModel",
    "adopt_folder",
    "cached_models",
    "candidate_ids",
    "is_ambiguous",
    "model_folder_lock",
    "place_folder",
    "remove_leftovers",
    "resolve_alias",
    "shown_model_id",
    "store_prefix",
]
