"""HG-Localization's documented model API, served by hgloc.

Blocking functions with the documented names and parameters, so existing
scripts run unchanged::

    import hg_localization
    success, path = hg_localization.download_model_metadata("bert-base-uncased")
"""

from __future__ import annotations

from hgloc.config import HGLocalizationConfig
from hgloc.sync import (
    download_model_metadata,
    get_cached_model_card_content,
    get_cached_model_config_content,
    get_model_card_content,
    get_model_config_content,
    list_local_models,
    list_s3_models,
    prefetch,
    sync_all_local_models_to_s3,
    sync_local_model_to_s3,
)

__all__ = [
    "HGLocalizationConfig",
    "download_model_metadata",
    "get_cached_model_card_content",
    "get_cached_model_config_content",
    "get_model_card_content",
    "get_model_config_content",
    "list_local_models",
    "list_s3_models",
    "prefetch",
    "sync_all_local_models_to_s3",
    "sync_local_model_to_s3",
]
