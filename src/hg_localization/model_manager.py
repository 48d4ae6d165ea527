"""HG-Localization's ``model_manager`` module: its public model functions, served by hgloc.

Blocking versions of hgloc's functions (:mod:`hgloc.sync`), with
HG-Localization's names and parameter order. ``config=None`` reads the
``HGLOC_*`` variables at each call. Where results differ on purpose, see
``docs/migrating.md``.
"""

from __future__ import annotations

from hgloc.sync import (
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

__all__ = [
    "download_model_metadata",
    "get_cached_model_card_content",
    "get_cached_model_config_content",
    "get_model_card_content",
    "get_model_card_url",
    "get_model_config_content",
    "list_local_models",
    "list_s3_models",
    "sync_all_local_models_to_s3",
    "sync_local_model_to_s3",
]
