"""hgloc: localize Hugging Face models into a store you control.

The API is async; blocking versions of the same functions live in
:mod:`hgloc.sync` (and, under the documented names, in ``hg_localization``).

>>> import hgloc
>>> ok, path = await hgloc.download_model_metadata("openai-community/gpt2")  # doctest: +SKIP

Names are imported on first use, so ``import hgloc`` (and ``hgloc --help``)
stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "download_model_metadata": "hgloc._api",
    "get_cached_model_card_content": "hgloc._api",
    "get_cached_model_config_content": "hgloc._api",
    "get_model_card_content": "hgloc._api",
    "get_model_config_content": "hgloc._api",
    "list_local_models": "hgloc._api",
    "load_config": "hgloc._api",
    "prefetch": "hgloc._api",
    "sync_local_model_to_s3": "hgloc._api",
    "sync_all_local_models_to_s3": "hgloc._api",
    "list_s3_models": "hgloc._api",
    "CachedModel": "hgloc._results",
    "ModelResult": "hgloc._results",
    "PrefetchReport": "hgloc._results",
    "Status": "hgloc._results",
    "Config": "hgloc.config",
    "HGLocalizationConfig": "hgloc.config",
    "HglocError": "hgloc.errors",
    "Localizer": "hgloc.localizer",
    "ModelRef": "hgloc.localizer",
    "parse_model_ref": "hgloc.localizer",
}

__all__ = [
    "CachedModel",
    "Config",
    "HGLocalizationConfig",
    "HglocError",
    "Localizer",
    "ModelRef",
    "ModelResult",
    "PrefetchReport",
    "Status",
    "__version__",
    "download_model_metadata",
    "get_cached_model_card_content",
    "get_cached_model_config_content",
    "get_model_card_content",
    "get_model_config_content",
    "list_local_models",
    "list_s3_models",
    "load_config",
    "parse_model_ref",
    "prefetch",
    "sync_all_local_models_to_s3",
    "sync_local_model_to_s3",
]

if TYPE_CHECKING:
    from hgloc._api import (
        download_model_metadata,
        get_cached_model_card_content,
        get_cached_model_config_content,
        get_model_card_content,
        get_model_config_content,
        list_local_models,
        list_s3_models,
        load_config,
        prefetch,
        sync_all_local_models_to_s3,
        sync_local_model_to_s3,
    )
    from hgloc._results import CachedModel, ModelResult, PrefetchReport, Status
    from hgloc.config import Config, HGLocalizationConfig
    from hgloc.errors import HglocError
    from hgloc.localizer import Localizer, ModelRef, parse_model_ref


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hgloc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if isinstance(value, type) and value.__module__.startswith("hgloc."):
        value.__module__ = "hgloc"  # reprs and docs show the public path
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
