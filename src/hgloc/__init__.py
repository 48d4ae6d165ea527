"""hgloc: localize Hugging Face models into a store you control.

The API is async; blocking versions of the same functions live in
:mod:`hgloc.sync` (and, under the documented names, in ``hg_localization``).

>>> import hgloc
>>> ok, path = await hgloc.download_model_metadata("openai-community/gpt2")  # doctest: +SKIP
"""

from __future__ import annotations

from hgloc._api import (
    download_model_metadata,
    get_cached_model_card_content,
    get_cached_model_config_content,
    get_model_card_content,
    get_model_config_content,
    list_local_models,
    prefetch,
)
from hgloc._results import CachedModel, ModelResult, PrefetchReport, Status
from hgloc.config import Config, HGLocalizationConfig
from hgloc.errors import HglocError
from hgloc.localizer import Localizer, ModelRef, parse_model_ref

__version__ = "0.1.0"

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
    "parse_model_ref",
    "prefetch",
]

for _obj in (CachedModel, ModelResult, PrefetchReport, Status, Config, Localizer, ModelRef):
    _obj.__module__ = __name__
