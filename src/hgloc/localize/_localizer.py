"""The façade: owns the resources (Hub client, stores, bucket) and composes the parts.

The parts: the read path (``_read_path``), sharing (``_sharing``), the bulk
operations over one runner (``_bulk``), and verify (``_verify``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from functools import partial
from typing import Any

import anyio
import attrs
from anyio.abc import AsyncResource

from hgloc.backends import LocalBackend, StorageBackend
from hgloc.bucket import BucketAccess, BucketEntry, BucketTier
from hgloc.config import DEFAULT_CONCURRENCY, DEFAULT_SYNC_CONCURRENCY, Config
from hgloc.errors import InvalidModelIdError
from hgloc.facts.hook import model_stored
from hgloc.layout import CARD_FILE, CONFIG_FILE, validate_model_id, validate_revision
from hgloc.localize._assembly import assemble_read_path
from hgloc.localize._bulk import ProgressCallback, prefetch, sync_all
from hgloc.localize._hub_metadata import HubClient, parse_config
from hgloc.localize._local import LocalStore
from hgloc.localize._request import ModelRef, ModelRequest, parse_model_ref
from hgloc.localize._results import ModelResult, PrefetchReport, failure
from hgloc.localize._sharing import Sharing
from hgloc.localize._verify import Verifier, VerifyReport
from hgloc.sources import HuggingFaceSource, RetryPolicy
from hgloc.store import CachedModel, ModelStore
from hgloc.transfer import ByteProgress, Patterns, TransferSettings

__all__ = ["Localizer"]

logger = logging.getLogger("hgloc")


class Localizer(AsyncResource):
    """Copies models from the Hub into a store; owns the HTTP client and the store.

    Use it as an async context manager; every method may be called
    concurrently. One localizer shares one connection pool and one rate-limit
    pacer across everything it does. ``backend`` is the store (default: the
    folder ``config.store_path``).

    >>> async with Localizer(Config(models_store_path="/tmp/models")) as loc:  # doctest: +SKIP
    ...     report = await loc.prefetch(["gpt2", "google-bert/bert-base-uncased"])
    ...     print(len(report.fetched), "fetched")
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        backend: StorageBackend | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        transfer: TransferSettings | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.config = config if config is not None else Config.from_env()
        self.backend: StorageBackend = backend or LocalBackend(self.config.store_path)
        self.concurrency = concurrency
        self.transfer = transfer or TransferSettings()
        self._local = LocalStore(self.config, self.backend)
        self._hub = HubClient(
            self.config,
            concurrency=concurrency,
            retry=retry or RetryPolicy(max_retries=self.config.max_retries),
        )
        self._bucket = BucketAccess(self.config)
        self._sharing = Sharing(self._local, self._bucket)
        self._read_path = assemble_read_path(
            self._local, self._hub, self._bucket, self.backend, transfer=self.transfer,
            concurrency=concurrency, on_stored=partial(model_stored, self),
        )  # fmt: skip

    async def aclose(self) -> None:
        """Close the HTTP clients and the store."""
        with anyio.CancelScope(shield=True):
            await self._hub.aclose()
            await self._bucket.aclose()
            await self.backend.aclose()

    @property
    def models(self) -> ModelStore:
        """The model folders of this localizer's store."""
        return self._local.models

    @property
    def source(self) -> HuggingFaceSource:
        """The Hub adapter, created on first use (no token lookup before it is needed)."""
        return self._hub.source

    def model_prefix(
        self, model_id: str, revision: str | None = None, *, public: bool = False
    ) -> str:
        """The key prefix of a model's folder in this localizer's store.

        ``public=True``: the folder of a model read from the bucket's public manifest.
        """
        return self._local.prefix(model_id, revision, public=public)

    async def cached(self, model_id: str, revision: str | None = None) -> CachedModel | None:
        """The cached model (any folder of the store, or an alias), or ``None``."""
        return await self._local.cached(model_id, revision)

    # -- one model -----------------------------------------------------------

    async def get(self, request: ModelRequest) -> ModelResult:
        """Localize one model as ``request`` says; see :meth:`download` for what happens."""
        started = time.perf_counter()
        result = await self._read_path.get(request)
        if await self._sharing.wanted(result, request):
            result = await self._sharing.share(result, request)
        return attrs.evolve(result, seconds=time.perf_counter() - started)

    async def download(
        self,
        model_id: str,
        revision: str | None = None,
        *,
        refresh: bool = False,
        skip_hf_fetch: bool = False,
        metadata_only: bool = True,
        allow_patterns: Patterns = None,
        ignore_patterns: Patterns = None,
        on_bytes: ByteProgress | None = None,
        upload: bool = True,
        make_public: bool = False,
    ) -> ModelResult:
        """Make sure the store holds the card and config of ``model_id``, or all its files.

        Already cached: returns at once with status ``skipped`` and makes no
        request. With ``refresh=True`` it asks the Hub for the current commit
        (one cheap call) and refetches only when the commit moved.

        ``metadata_only=False`` stores every file of the repo (``README.md`` as
        ``model_card.md``), each verified against the Hub's hash, big files in
        parallel byte ranges; an interrupted download resumes where it stopped.
        ``allow_patterns`` / ``ignore_patterns`` (globs, as in ``huggingface_hub``)
        narrow the files. A metadata-only folder is completed at its commit; a
        full model satisfies a metadata-only request, and a refresh keeps it full.
        ``on_bytes(path, done, total)`` reports bytes, per big file and for the
        whole model (``path == ""``), a few times a second.

        With a bucket configured (``s3_bucket_name``) the read path is: local
        store, then the bucket (or, without AWS credentials, its public
        manifest), then the Hub; a model fetched from the Hub is uploaded to
        the bucket unless ``upload=False``. ``make_public=True`` also publishes
        its card and config (``public-read``) in the public manifest. The
        result's ``shared`` says where in the bucket the model was put.

        Raises an :class:`~hgloc.errors.HglocError` (a subclass naming what
        to do) on failure; the store is left as it was, or (full models) without
        metadata and resumable.
        """
        return await self.get(
            ModelRequest(
                model_id=model_id, revision=revision, refresh=refresh,
                skip_hf_fetch=skip_hf_fetch, metadata_only=metadata_only,
                allow_patterns=allow_patterns, ignore_patterns=ignore_patterns,
                on_bytes=on_bytes, upload=upload, make_public=make_public,
            )
        )  # fmt: skip

    # -- many models ---------------------------------------------------------

    async def prefetch(
        self,
        model_ids: Iterable[str | ModelRef],
        revision: str | None = None,
        *,
        concurrency: int | None = None,
        refresh: bool = False,
        progress: ProgressCallback | None = None,
        metadata_only: bool = True,
        allow_patterns: Patterns = None,
        ignore_patterns: Patterns = None,
        upload: bool = True,
        make_public: bool = False,
    ) -> PrefetchReport:
        """Cache many models at once; never stops on one model's failure.

        ``model_ids`` may hold ``"org/name"``, ``"org/name@revision"`` or
        :class:`ModelRef` values; ``revision`` applies to those without one.
        Duplicates are fetched once. Up to ``concurrency`` models are in
        flight over the one connection pool. ``progress`` is called with each
        model's :class:`ModelResult` as it finishes. ``metadata_only``, the
        patterns, ``upload`` and ``make_public`` work as in :meth:`download`.

        With a bucket, its index is read once: only the models it lists are
        looked for in the bucket, and (``upload``) models this store holds but
        the index lacks are uploaded too, so a run cut short is completed by the
        next. Uploads run in their own workers: a slow bucket delays them, not
        the downloads.

        >>> report = await loc.prefetch(["gpt2", "bad/../id"])  # doctest: +SKIP
        >>> [r.status for r in report.results]  # doctest: +SKIP
        [<Status.FETCHED: 'fetched'>, <Status.FAILED: 'failed'>]
        """

        def request_for(ref: ModelRef) -> ModelRequest:
            return ModelRequest(
                model_id=ref.model_id, revision=ref.revision, refresh=refresh,
                metadata_only=metadata_only, allow_patterns=allow_patterns,
                ignore_patterns=ignore_patterns, upload=upload, make_public=make_public,
            )  # fmt: skip

        entries: list[ModelRequest | ModelResult] = []
        seen: set[ModelRef] = set()
        for item in model_ids:
            try:
                ref = item if isinstance(item, ModelRef) else parse_model_ref(item, revision)
                request = request_for(ref)
            except InvalidModelIdError as exc:
                entries.append(failure(str(item), revision, exc))
                continue
            if ref not in seen:
                seen.add(ref)
                entries.append(request)
        return await prefetch(
            entries, read_path=self._read_path, sharing=self._sharing, bucket=self._bucket,
            upload=upload, workers=concurrency or self.concurrency, progress=progress,
        )  # fmt: skip

    # -- the team bucket -----------------------------------------------------

    async def bucket(self) -> BucketTier | None:
        """The bucket tier when a bucket is configured and AWS credentials are found.

        Without credentials, the bucket is read through its public manifest only.
        """
        return await self._bucket.tier()

    async def upload(
        self,
        model_id: str,
        revision: str | None = None,
        *,
        make_public: bool = False,
        check_existing: bool = True,
    ) -> ModelResult:
        """Put a cached model in the bucket (``uploaded``, or ``skipped`` if already there).

        ``check_existing=False`` puts every object without first asking whether
        an identical one is there (cheaper for a model the bucket cannot have yet).
        Raises :class:`~hgloc.errors.NoBucketConfiguredError` without a bucket.
        """
        return await self._sharing.upload(
            model_id, revision, make_public=make_public, check_existing=check_existing
        )

    async def sync_all_to_bucket(
        self,
        *,
        make_public: bool = False,
        concurrency: int = DEFAULT_SYNC_CONCURRENCY,
        progress: ProgressCallback | None = None,
    ) -> PrefetchReport:
        """Upload every locally cached model; skips objects already there, reports per model.

        Safe to rerun after an interruption: what is in place is skipped. When
        the bucket stops answering (several models in a row fail to reach it),
        the models not yet tried are reported as not synced instead of each
        waiting out its own retries.
        """
        return await sync_all(
            self._local, self._sharing, self._bucket,
            make_public=make_public, workers=concurrency, progress=progress,
        )  # fmt: skip

    async def list_bucket_models(self) -> list[BucketEntry]:
        """The models the bucket's indexes list (only the public ones without credentials)."""
        return await self._bucket.entries()

    async def verify(
        self,
        model_ids: Iterable[str | ModelRef] | None = None,
        *,
        bucket: bool = False,
        repair: bool = False,
    ) -> VerifyReport:
        """Re-hash stored files against their metadata; ``repair=True`` refetches damage.

        Checks every cached model (or those named), or with ``bucket=True`` the
        bucket's copies. A damaged model stops counting as cached before it is
        fetched again.
        """
        refs = None
        if model_ids is not None:
            refs = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in model_ids]
        verifier = Verifier(self._local, self._bucket, download=self.get, upload=self.upload)
        return await verifier.verify(refs, bucket=bucket, repair=repair)

    # -- reading -------------------------------------------------------------

    async def list_models(self, *, public_copies: bool = True) -> list[CachedModel]:
        """Every model this store holds completely, for this localizer's bucket setting.

        With a bucket: the models of that bucket's folder and (unless
        ``public_copies=False``) the copies read from its public manifest.
        Without: the models at the store's root.
        """
        return await self._local.list(public_copies=public_copies)

    async def cached_card(self, model_id: str, revision: str | None = None) -> str | None:
        """The cached model card, or ``None`` if the store does not hold it."""
        data = await self._local.read_file(model_id, revision, CARD_FILE)
        return None if data is None else data.decode("utf-8", errors="replace")

    async def cached_config(
        self, model_id: str, revision: str | None = None
    ) -> dict[str, Any] | None:
        """The cached ``config.json`` as a dict, or ``None`` if the store does not hold it."""
        data = await self._local.read_file(model_id, revision, CONFIG_FILE)
        return None if data is None else parse_config(data, model_id)

    async def hub_card(self, model_id: str, revision: str | None = None) -> str:
        """The model card straight from the Hub; nothing is stored."""
        validate_model_id(model_id)
        validate_revision(revision)
        return await self._hub.card(model_id, revision)

    async def hub_config(self, model_id: str, revision: str | None = None) -> dict[str, Any]:
        """``config.json`` straight from the Hub, parsed; nothing is stored."""
        validate_model_id(model_id)
        validate_revision(revision)
        return await self._hub.config_json(model_id, revision)
