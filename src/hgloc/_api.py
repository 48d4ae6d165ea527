"""The documented functions, async: thin wrappers that open a Localizer per call.

For many calls in a row, open one :class:`~hgloc.Localizer` instead: it keeps
its connection pool between calls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from hgloc._results import PrefetchReport
from hgloc.config import Config
from hgloc.errors import HglocError
from hgloc.localizer import DEFAULT_CONCURRENCY, Localizer, ModelRef, ProgressCallback

__all__ = [
    "download_model_metadata",
    "get_cached_model_card_content",
    "get_cached_model_config_content",
    "get_model_card_content",
    "get_model_config_content",
    "list_local_models",
    "prefetch",
]

logger = logging.getLogger("hgloc")


async def download_model_metadata(
    model_id: str,
    revision: str | None = None,
    make_public: bool = False,
    skip_s3_upload: bool = False,
    skip_hf_fetch: bool = False,
    metadata_only: bool = True,
    config: Config | None = None,
    *,
    refresh: bool = False,
) -> tuple[bool, str]:
    """Cache a model's card and ``config.json``; return ``(True, path)`` or ``(False, message)``.

    Already cached: ``(True, path)`` with no request made. ``refresh=True``
    re-checks the commit and refetches only if it moved. On failure nothing
    partial is left in the store.

    >>> ok, path = await download_model_metadata("openai-community/gpt2")  # doctest: +SKIP
    """
    if not metadata_only:
        return False, (
            "full-model downloads (metadata_only=False) are not available in this version of "
            "hgloc; use metadata_only=True"
        )
    del make_public, skip_s3_upload  # only meaningful with a bucket configured
    try:
        async with Localizer(config) as loc:
            result = await loc.download(
                model_id, revision, refresh=refresh, skip_hf_fetch=skip_hf_fetch
            )
    except HglocError as exc:
        logger.debug("download of %s failed", model_id, exc_info=True)
        return False, str(exc)
    assert result.path is not None
    return True, result.path


async def list_local_models(config: Config | None = None) -> list[dict[str, Any]]:
    """Every model the local store holds completely, as dicts.

    Keys: ``model_id``, ``revision``, ``has_card``, ``has_config``, ``path``,
    ``commit``, ``is_public``, ``is_full_model``, ``cached_timestamp``.
    """
    async with Localizer(config) as loc:
        return [m.as_dict() for m in await loc.list_models()]


async def get_cached_model_card_content(
    model_id: str, revision: str | None = None, config: Config | None = None
) -> str | None:
    """The cached model card, or ``None`` if it is not in the store. Makes no request."""
    async with Localizer(config) as loc:
        return await loc.cached_card(model_id, revision)


async def get_cached_model_config_content(
    model_id: str, revision: str | None = None, config: Config | None = None
) -> dict[str, Any] | None:
    """The cached ``config.json`` as a dict, or ``None``. Makes no request."""
    async with Localizer(config) as loc:
        return await loc.cached_config(model_id, revision)


async def get_model_card_content(
    model_id: str, revision: str | None = None, config: Config | None = None
) -> str | None:
    """The model card straight from the Hub (nothing stored); ``None`` if unavailable.

    The reason is logged at WARNING; use :meth:`Localizer.hub_card` to get the error.
    """
    async with Localizer(config) as loc:
        try:
            return await loc.hub_card(model_id, revision)
        except HglocError as exc:
            logger.warning("no model card for %s: %s", model_id, exc)
            return None


async def get_model_config_content(
    model_id: str, revision: str | None = None, config: Config | None = None
) -> dict[str, Any] | None:
    """``config.json`` straight from the Hub (nothing stored); ``None`` if unavailable."""
    async with Localizer(config) as loc:
        try:
            return await loc.hub_config(model_id, revision)
        except HglocError as exc:
            logger.warning("no config.json for %s: %s", model_id, exc)
            return None


async def prefetch(
    model_ids: Iterable[str | ModelRef],
    revision: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    metadata_only: bool = True,
    progress: ProgressCallback | None = None,
    config: Config | None = None,
    *,
    refresh: bool = False,
) -> PrefetchReport:
    """Cache many models at once and report per model; see :meth:`Localizer.prefetch`.

    >>> report = await prefetch(["gpt2", "google-bert/bert-base-uncased"])  # doctest: +SKIP
    >>> report.ok  # doctest: +SKIP
    True
    """
    if not metadata_only:
        raise ValueError(
            "full-model prefetch (metadata_only=False) is not available in this version"
        )
    async with Localizer(config, concurrency=concurrency) as loc:
        return await loc.prefetch(model_ids, refresh=refresh, progress=progress, revision=revision)
