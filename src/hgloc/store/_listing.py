"""The models a configuration's store holds, without a Hub client (fast for big stores)."""

from __future__ import annotations

from hgloc.backends import LocalBackend, StorageBackend
from hgloc.config import Config
from hgloc.store._model_store import CachedModel, ModelStore

__all__ = ["cached_models"]


async def cached_models(
    config: Config,
    backend: StorageBackend | None = None,
    *,
    public_copies: bool = True,
    public_only: bool = False,
) -> list[CachedModel]:
    """Every model the store holds completely, for ``config``'s bucket setting.

    ``backend``: the store (default: the folder ``config.store_path``, closed after).
    See ``ModelStore.cached_models`` for which folders count; ``public_only``:
    those under ``public/`` only (HG-Localization's ``public_access_only``).
    """
    store = backend or LocalBackend(config.store_path)
    try:
        models = ModelStore(store, default_revision_name=config.default_revision_name)
        return await models.cached_models(
            config.bucket_folder, public_copies=public_copies, public_only=public_only
        )
    finally:
        if backend is None:
            await store.aclose()
