"""The documented functions, async: thin wrappers that open a Localizer per call.

For many calls in a row, open one :class:`~hgloc.Localizer` instead: it keeps
its connection pool between calls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hgloc._transformers import load_config as _load_config
from hgloc._transformers import require_transformers
from hgloc.config import DEFAULT_CONCURRENCY, DEFAULT_SYNC_CONCURRENCY, Config
from hgloc.errors import HglocError, NoBucketConfiguredError, StorePermissionError
from hgloc.layout import validate_model_id
from hgloc.localize import Localizer, ModelRef, PrefetchReport, ProgressCallback
from hgloc.localize._results import failure
from hgloc.lockfile import LockFile
from hgloc.store import CachedModel, adopt_folder, cached_models, store_prefix
from hgloc.transfer import ByteProgress, Patterns
from hgloc.versions import locked_prefetch

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = [
    "adopt",
    "download_model_metadata",
    "get_cached_model_card_content",
    "get_cached_model_config_content",
    "get_model_card_content",
    "get_model_card_url",
    "get_model_config_content",
    "list_local_models",
    "list_s3_models",
    "load_config",
    "prefetch",
    "sync_all_local_models_to_s3",
    "sync_local_model_to_s3",
]

logger = logging.getLogger("hgloc")


async def download_model_metadata(
    model_id: str,
    revision: str | None = None,
    make_public: bool = False,
    skip_s3_upload: bool = False,
    skip_hf_fetch: bool = False,
    metadata_only: bool = True,
    *,
    config: Config | None = None,
    refresh: bool = False,
    allow_patterns: Patterns = None,
    ignore_patterns: Patterns = None,
    on_bytes: ByteProgress | None = None,
) -> tuple[bool, str]:
    """Cache a model's card and ``config.json``; return ``(True, path)`` or ``(False, message)``.

    Already cached: ``(True, path)`` with no request made. ``refresh=True``
    re-checks the commit and refetches only if it moved. On failure the
    model does not count as cached (a full download keeps its verified files
    and resumes next time); with a bucket, ``(False, why)`` also reports a
    model cached locally whose upload failed.

    ``metadata_only=False`` caches every file of the repo, verified, ready for
    ``from_pretrained(path)``; ``allow_patterns`` / ``ignore_patterns`` narrow
    the files and ``on_bytes`` reports progress (see :meth:`Localizer.download`).
    An interrupted full download resumes on the next call.

    >>> ok, path = await download_model_metadata("openai-community/gpt2")  # doctest: +SKIP
    """
    try:
        async with Localizer(config) as loc:
            result = await loc.download(
                model_id,
                revision,
                refresh=refresh,
                skip_hf_fetch=skip_hf_fetch,
                metadata_only=metadata_only,
                allow_patterns=allow_patterns,
                ignore_patterns=ignore_patterns,
                on_bytes=on_bytes,
                upload=not skip_s3_upload,
                make_public=make_public,
            )
    except HglocError as exc:
        logger.debug("download of %s failed", model_id, exc_info=True)
        return False, str(exc)
    if not result.ok:  # cached, but sharing it through the bucket failed
        return False, result.error or "the upload to the bucket failed"
    assert result.path is not None
    return True, result.path


async def list_local_models(
    *, config: Config | None = None, public_access_only: bool = False
) -> list[dict[str, Any]]:
    """Every model the local store holds completely, as dicts.

    Keys: HG-Localization's ``model_id``, ``revision``, ``path``, ``has_card``,
    ``has_config``, ``has_tokenizer``, ``is_full_model``, ``is_public``, then
    ``commit``, ``cached_timestamp`` and ``ambiguous`` (a folder written by
    HG-Localization whose name could hold several ids: listed under the id
    HG-Localization shows until ``hgloc adopt`` names it). Folders written by
    HG-Localization are listed under the ids it shows; with a bucket configured,
    models cached before it was are listed too. ``public_access_only``: only
    the public copies (under ``public/``).
    """
    config = config if config is not None else Config.from_env()
    models = await cached_models(config, public_only=public_access_only)
    return [m.as_dict() for m in models]


def get_model_card_url(model_id: str) -> str:
    """The model's page on the Hub (``https://huggingface.co/<id>``, or ``HF_ENDPOINT``'s)."""
    return f"{Config().endpoint}/{validate_model_id(model_id)}"


async def adopt(
    folder: str | os.PathLike[str],
    model_id: str,
    revision: str | None = None,
    *,
    config: Config | None = None,
) -> CachedModel:
    """Name the model a folder written by HG-Localization holds; return it as cached.

    ``folder``: the revision folder (``<store>/team-org_model_v2/default_revision``),
    a path or relative to the store; a model folder with one revision folder
    will do. ``revision=None`` reads it from the folder name. The metadata file
    keeps HG-Localization's keys and gains hgloc's: the id, the revision, each
    file's size and hash computed from the bytes (``hashes_source: "local"``).
    ``download-model --refresh`` later replaces them with the Hub's.

    >>> await adopt("team-org_model_v2/default_revision", "team-org/model_v2")  # doctest: +SKIP
    """
    config = config if config is not None else Config.from_env()
    prefix = store_prefix(config.store_path, folder)
    return await adopt_folder(config, prefix, model_id, revision)


async def get_cached_model_card_content(
    model_id: str, revision: str | None = None, *, config: Config | None = None
) -> str | None:
    """The cached model card, or ``None`` if it is not in the store. Makes no request."""
    async with Localizer(config) as loc:
        return await loc.cached_card(model_id, revision)


async def get_cached_model_config_content(
    model_id: str, revision: str | None = None, *, config: Config | None = None
) -> dict[str, Any] | None:
    """The cached ``config.json`` as a dict, or ``None``. Makes no request."""
    async with Localizer(config) as loc:
        return await loc.cached_config(model_id, revision)


async def get_model_card_content(
    model_id: str, revision: str | None = None, *, config: Config | None = None
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
    model_id: str, revision: str | None = None, *, config: Config | None = None
) -> dict[str, Any] | None:
    """``config.json`` straight from the Hub (nothing stored); ``None`` if unavailable."""
    async with Localizer(config) as loc:
        try:
            return await loc.hub_config(model_id, revision)
        except HglocError as exc:
            logger.warning("no config.json for %s: %s", model_id, exc)
            return None


async def prefetch(
    model_ids: Iterable[str | ModelRef] = (),
    revision: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    metadata_only: bool = True,
    progress: ProgressCallback | None = None,
    *,
    config: Config | None = None,
    refresh: bool = False,
    allow_patterns: Patterns = None,
    ignore_patterns: Patterns = None,
    locked: str | os.PathLike[str] | LockFile | None = None,
) -> PrefetchReport:
    """Cache many models at once and report per model; see :meth:`Localizer.prefetch`.

    ``metadata_only=False`` caches every file of each repo (narrowed by the patterns).
    ``locked`` (a lock file's path, or a :class:`~hgloc.lockfile.LockFile`): fetch
    exactly its models at their locked commits instead (see :func:`hgloc.lockfile`).

    >>> report = await prefetch(["gpt2", "google-bert/bert-base-uncased"])  # doctest: +SKIP
    >>> report.ok  # doctest: +SKIP
    True
    """
    if locked is not None:
        return await locked_prefetch(
            locked, concurrency=concurrency, progress=progress, config=config
        )
    async with Localizer(config, concurrency=concurrency) as loc:
        return await loc.prefetch(
            model_ids,
            refresh=refresh,
            progress=progress,
            revision=revision,
            metadata_only=metadata_only,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
        )


async def load_config(
    model_id: str, revision: str | None = None, *, config: Config | None = None
) -> PretrainedConfig:
    """The cached model's ``config.json`` as a ``transformers`` config (``AutoConfig``).

    Reads the local store only (metadata-only models have their config too);
    makes no request. Needs the extra: ``pip install 'hgloc[transformers]'``,
    else raises :class:`~hgloc.errors.MissingExtraError`. A model that is not
    cached raises :class:`~hgloc.errors.ObjectNotFoundError`.

    >>> cfg = await load_config("openai-community/gpt2")  # doctest: +SKIP
    >>> cfg.model_type  # doctest: +SKIP
    'gpt2'
    """
    require_transformers()  # before opening anything
    async with Localizer(config) as loc:
        return await _load_config(loc, model_id, revision)


async def list_s3_models(*, config: Config | None = None) -> list[dict[str, Any]]:
    """The models in the team bucket, from its indexes, as dicts.

    Keys: ``model_id``, ``revision``, ``s3_prefix``, ``is_public``, ``has_card``,
    ``has_config``, ``is_full_model``, ``last_updated``. Without AWS
    credentials, only the public models (read through plain HTTPS GETs).
    Without a bucket configured (``HGLOC_S3_BUCKET_NAME``): ``[]``.
    """
    config = config if config is not None else Config.from_env()
    if not config.has_bucket:
        logger.warning("list_s3_models: no bucket configured; set HGLOC_S3_BUCKET_NAME")
        return []
    async with Localizer(config) as loc:
        return [entry.as_dict() for entry in await loc.list_bucket_models()]


async def sync_local_model_to_s3(
    model_id: str,
    revision: str | None = None,
    make_public: bool = False,
    *,
    config: Config | None = None,
) -> tuple[bool, str]:
    """Upload a locally cached model to the bucket: ``(True, s3 location)`` or ``(False, why)``.

    Objects already in the bucket with the same size and hash are not sent again.
    Without a bucket configured, ``(False, why)`` says to set ``HGLOC_S3_BUCKET_NAME``.
    """
    try:
        async with Localizer(config) as loc:
            result = await loc.upload(model_id, revision, make_public=make_public)
    except HglocError as exc:
        logger.debug("sync of %s failed", model_id, exc_info=True)
        return False, str(exc)
    assert result.path is not None
    return True, result.path


async def sync_all_local_models_to_s3(
    make_public: bool = False,
    concurrency: int = DEFAULT_SYNC_CONCURRENCY,
    *,
    config: Config | None = None,
    progress: ProgressCallback | None = None,
) -> PrefetchReport:
    """Upload every locally cached model; resumable, reports per model.

    Each result's status is ``uploaded``, ``skipped`` (already in the bucket)
    or ``failed`` (with the reason). Without a bucket, or without AWS
    credentials for it, every model is ``failed`` with what to set.
    """
    async with Localizer(config) as loc:
        try:
            return await loc.sync_all_to_bucket(
                make_public=make_public, concurrency=concurrency, progress=progress
            )
        except (NoBucketConfiguredError, StorePermissionError) as exc:
            # Raised before any model was tried: each model fails for that reason.
            logger.debug("sync of every model failed", exc_info=True)
            models = await loc.list_models(public_copies=False)
            results = tuple(failure(m.model_id, m.revision, exc) for m in models)
            for result in results:
                if progress is not None:
                    progress(result)
            return PrefetchReport(results, 0.0)
