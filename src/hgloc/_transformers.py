"""The optional ``transformers`` bridge: open a cached model folder with ``AutoConfig``."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING

import anyio.to_thread

from hgloc.backends import LocalPaths
from hgloc.errors import HglocError, MissingExtraError, ObjectNotFoundError

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from hgloc.localize import Localizer

__all__ = ["load_config", "require_transformers"]


def require_transformers() -> ModuleType:
    """The ``transformers`` module, or a :class:`MissingExtraError` naming the extra."""
    try:
        import transformers
    except ImportError as exc:
        raise MissingExtraError(
            "this needs the 'transformers' package: pip install 'hgloc[transformers]'"
        ) from exc
    return transformers


async def load_config(
    loc: Localizer, model_id: str, revision: str | None = None
) -> PretrainedConfig:
    """``AutoConfig.from_pretrained`` on the cached folder of ``model_id``; no request is made."""
    transformers = require_transformers()
    backend = loc.backend
    if not isinstance(backend, LocalPaths):
        raise HglocError(
            f"load_config reads a model folder from disk, but this store is {backend.name}; "
            "use a local store (models_store_path)"
        )
    cached = await loc.cached(model_id, revision)
    shown = model_id if revision is None else f"{model_id}@{revision}"
    if cached is None:
        raise ObjectNotFoundError(
            f"{shown} is not in the store {backend.root}; download it first "
            "(download_model_metadata, or 'hgloc download')"
        )
    if not cached.has_config:
        raise ObjectNotFoundError(f"{shown} is cached without a config.json (its repo has none)")
    load = functools.partial(
        transformers.AutoConfig.from_pretrained, cached.path, local_files_only=True
    )
    config: PretrainedConfig = await anyio.to_thread.run_sync(load)
    return config
