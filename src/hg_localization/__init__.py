"""HG-Localization's documented model API, served by hgloc.

Blocking functions with the documented names and parameters, so existing
scripts run unchanged::

    import hg_localization
    success, path = hg_localization.download_model_metadata("bert-base-uncased")

The modules people import are here too: ``hg_localization.config``,
``hg_localization.model_manager`` and ``hg_localization.cli``. Differences
from HG-Localization, and why: ``docs/migrating.md``.
"""

from __future__ import annotations

from hg_localization.config import (
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    DATASETS_STORE_PATH,
    DEFAULT_CONFIG_NAME,
    DEFAULT_REVISION_NAME,
    MODELS_STORE_PATH,
    PUBLIC_DATASETS_JSON_KEY,
    PUBLIC_DATASETS_ZIP_DIR_PREFIX,
    PUBLIC_MODELS_JSON_KEY,
    S3_BUCKET_NAME,
    S3_DATA_PREFIX,
    S3_ENDPOINT_URL,
    HGLocalizationConfig,
    default_config,
)
from hg_localization.model_manager import (
    download_model_metadata,
    get_cached_model_card_content,
    get_cached_model_config_content,
    get_model_card_content,
    get_model_card_url,
    get_model_config_content,
    list_local_models,
    list_s3_models,
    sync_all_local_models_to_s3,
    sync_local_model_to_s3,
)
from hgloc.sync import adopt, prefetch

__all__ = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "DATASETS_STORE_PATH",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_REVISION_NAME",
    "MODELS_STORE_PATH",
    "PUBLIC_DATASETS_JSON_KEY",
    "PUBLIC_DATASETS_ZIP_DIR_PREFIX",
    "PUBLIC_MODELS_JSON_KEY",
    "S3_BUCKET_NAME",
    "S3_DATA_PREFIX",
    "S3_ENDPOINT_URL",
    "HGLocalizationConfig",
    "adopt",
    "default_config",
    "download_model_metadata",
    "get_cached_model_card_content",
    "get_cached_model_config_content",
    "get_model_card_content",
    "get_model_card_url",
    "get_model_config_content",
    "list_local_models",
    "list_s3_models",
    "prefetch",
    "sync_all_local_models_to_s3",
    "sync_local_model_to_s3",
]
