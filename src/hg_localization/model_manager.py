"""HG-Localization's ``model_manager`` module: its public model functions, served by hgloc.

HG-Localization's names and parameters, in its positional order (``config``
is the 5th argument of ``download_model_metadata``, the 2nd of
``sync_all_local_models_to_s3``). Each is a blocking function of
:mod:`hgloc.sync`, where ``config`` is keyword-only; the ones here only pass
the arguments on. ``config=None`` reads the ``HGLOC_*`` variables at each
call. Where results differ on purpose, see ``docs/migrating.md``.
"""

from __future__ import annotations

from typing import Any

from hgloc import sync
from hgloc.config import Config
from hgloc.localize import PrefetchReport
from hgloc.sync import (
    get_model_card_content,
    get_model_card_url,
    get_model_config_content,
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


def download_model_metadata(
    model_id: str,
    revision: str | None = None,
    make_public: bool = False,
    skip_s3_upload: bool = False,
    config: Config | None = None,
    skip_hf_fetch: bool = False,
    metadata_only: bool = True,
    **options: Any,
) -> tuple[bool, str]:
    """:func:`hgloc.sync.download_model_metadata`; ``options``: its keyword-only arguments."""
    return sync.download_model_metadata(
        model_id,
        revision,
        make_public,
        skip_s3_upload,
        skip_hf_fetch,
        metadata_only,
        config=config,
        **options,
    )


def get_cached_model_card_content(
    model_id: str, revision: str | None = None, config: Config | None = None
) -> str | None:
    """:func:`hgloc.sync.get_cached_model_card_content`."""
    return sync.get_cached_model_card_content(model_id, revision, config=config)


def get_cached_model_config_content(
    model_id: str, revision: str | None = None, config: Config | None = None
) -> dict[str, Any] | None:
    """:func:`hgloc.sync.get_cached_model_config_content`."""
    return sync.get_cached_model_config_content(model_id, revision, config=config)


def list_local_models(
    config: Config | None = None, public_access_only: bool = False, filter_by_bucket: bool = True
) -> list[dict[str, Any]]:
    """:func:`hgloc.sync.list_local_models`; ``filter_by_bucket`` is ignored, as there."""
    return sync.list_local_models(config=config, public_access_only=public_access_only)


def list_s3_models(config: Config | None = None) -> list[dict[str, Any]]:
    """:func:`hgloc.sync.list_s3_models`."""
    return sync.list_s3_models(config=config)


def sync_local_model_to_s3(
    model_id: str,
    revision: str | None = None,
    make_public: bool = False,
    config: Config | None = None,
) -> tuple[bool, str]:
    """:func:`hgloc.sync.sync_local_model_to_s3`."""
    return sync.sync_local_model_to_s3(model_id, revision, make_public, config=config)


def sync_all_local_models_to_s3(
    make_public: bool = False, config: Config | None = None, **options: Any
) -> PrefetchReport:
    """:func:`hgloc.sync.sync_all_local_models_to_s3` (a report, not ``None``)."""
    return sync.sync_all_local_models_to_s3(make_public, config=config, **options)
