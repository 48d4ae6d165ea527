"""A configuration's store without a Hub client: its models (fast for big stores), adoption."""

from __future__ import annotations

from hgloc.backends import LocalBackend, StorageBackend
from hgloc.config import Config
from hgloc.store._model_store import CachedModel, ModelStore

__all__ = ["adopt_folder", "cached_models"]


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


async def adopt_folder(
    config: Config,
    prefix: str,
    model_id: str,
    revision: str | None = None,
    backend: StorageBackend | None = None,
) -> CachedModel:
    """Record which model the HG-Localization folder at ``prefix`` holds (``hgloc adopt``)."""
    store = backend or LocalBackend(config.store_path)
    try:
        models = ModelStore(store, default_revision_name=config.default_revision_name)
        record = await models.foreign.adopt(prefix, model_id, revision)
        return CachedModel.from_record(record, store.location(prefix), prefix)
    finally:
        if backend is None:
            await store.aclose()
