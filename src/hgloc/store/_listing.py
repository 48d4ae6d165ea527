"""The models a configuration's store holds, without a Hub client (fast for big stores)."""

from __future__ import annotations

from hgloc.backends import LocalBackend, StorageBackend
from hgloc.config import Config
from hgloc.store._model_store import CachedModel, ModelStore

__all__ = ["cached_models"]


async def cached_models(
    config: Config, backend: StorageBackend | None = None, *, public_copies: bool = True
) -> list[CachedModel]:
    """Every model the store holds completely, for ``config``'s bucket setting.

    ``backend``: the store (default: the folder ``config.store_path``, closed after).
    See ``Localizer.list_models`` for which folders count.
    """
    store = backend or LocalBackend(config.store_path)
    try:
        return await ModelStore(store).cached_models(
            config.bucket_folder, public_copies=public_copies
        )
    finally:
        if backend is None:
            await store.aclose()
