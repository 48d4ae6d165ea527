"""The async core: from the Hub into a store, one model or hundreds at a time."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping
from typing import Any

import anyio
import attrs
from anyio.abc import AsyncResource
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from hgloc._aio import gather, task_group
from hgloc._big_file import ByteProgress, TransferSettings
from hgloc._bucket import BucketEntry, BucketTier, checked_stream
from hgloc._full_model import FullModelJob, Outcome, Patterns
from hgloc._model_store import ModelStore
from hgloc._public import PublicReader
from hgloc._results import CachedModel, ModelResult, PrefetchReport, Status
from hgloc._staging import model_folder_lock, staging_root
from hgloc._verify import VerifyReport
from hgloc.backends import LocalBackend, StorageBackend
from hgloc.config import DEFAULT_CONCURRENCY, DEFAULT_SYNC_CONCURRENCY, Config
from hgloc.errors import (
    BackendUnavailableError,
    EntryNotFoundError,
    HglocError,
    HubError,
    InvalidModelIdError,
    LayoutCollisionError,
    ObjectNotFoundError,
    OfflineModeError,
    StorePermissionError,
)
from hgloc.layout import (
    CARD_FILE,
    CARD_REPO_PATH,
    CONFIG_FILE,
    METADATA_FILE,
    FileRecord,
    ModelRecord,
    local_model_prefix,
    validate_model_id,
    validate_revision,
)
from hgloc.sources import HubFile, HuggingFaceSource, RetryPolicy

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ByteProgress",
    "Localizer",
    "ModelRef",
    "TransferSettings",
    "parse_model_ref",
]

logger = logging.getLogger("hgloc")

_DEFAULT_BRANCH = "main"
_UNREACHABLE_LIMIT = 3  # models in a row that could not reach the bucket: it is down

ProgressCallback = Callable[[ModelResult], object]


@attrs.frozen
class ModelRef:
    """A model id and the revision wanted (``None``: the default branch)."""

    model_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.model_id if self.revision is None else f"{self.model_id}@{self.revision}"


def parse_model_ref(text: str, revision: str | None = None) -> ModelRef:
    """Parse ``org/name`` or ``org/name@revision``, validating both parts.

    >>> parse_model_ref("gpt2@v1.0")
    ModelRef(model_id='gpt2', revision='v1.0')
    """
    model_id, sep, rev = text.strip().partition("@")
    if sep and not rev:
        raise InvalidModelIdError(f"{text!r} has an '@' but no revision after it")
    return ModelRef(validate_model_id(model_id), validate_revision(rev if sep else revision))


class Localizer(AsyncResource):
    """Copies models from the Hub into a store; owns the HTTP client and the store.

    Use it as an async context manager; every method may be called
    concurrently. One localizer shares one connection pool and one rate-limit
    pacer across everything it does.

    >>> async with Localizer(Config(models_store_path="/tmp/models")) as loc:  # doctest: +SKIP
    ...     report = await loc.prefetch(["gpt2", "google-bert/bert-base-uncased"])
    ...     print(len(report.fetched), "fetched")
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: StorageBackend | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        transfer: TransferSettings | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.config = config if config is not None else Config.from_env()
        self.backend: StorageBackend = store or LocalBackend(self.config.store_path)
        self.store = ModelStore(self.backend)
        self.concurrency = concurrency
        self._retry = retry or RetryPolicy(max_retries=self.config.max_retries)
        self._source: HuggingFaceSource | None = None
        self.transfer = transfer or TransferSettings()
        # Full-model downloads: one pool of request slots for every file and byte range,
        # and one lock per model folder so that two calls never write it at once.
        self._transfer_slots = anyio.Semaphore(concurrency)
        self._folder_locks: dict[str, anyio.Lock] = {}
        self._tier: BucketTier | None = None
        self._public: PublicReader | None = None
        self._bucket_opened = False
        self._bucket_lock = anyio.Lock()
        self._bucket_folder = self.config.bucket_folder

    # -- lifecycle -----------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP client and the store."""
        with anyio.CancelScope(shield=True):
            if self._source is not None:
                await self._source.aclose()
                self._source = None
            if self._tier is not None:
                await self._tier.backend.aclose()
            if self._public is not None:
                await self._public.aclose()
                await self._public.tier.backend.aclose()
            await self.backend.aclose()

    @property
    def source(self) -> HuggingFaceSource:
        """The Hub adapter, created on first use (no token lookup before it is needed)."""
        if self._source is None:
            from hgloc import __version__

            offline = self.config.is_offline
            self._source = HuggingFaceSource(
                endpoint=self.config.endpoint,
                token=None if offline else self.config.token(),
                offline=offline,
                concurrency=self.concurrency,
                timeout=self.config.request_timeout,
                retry=self._retry,
                user_agent=f"hgloc/{__version__}",
            )
        return self._source

    # -- where things are ----------------------------------------------------

    def model_prefix(
        self, model_id: str, revision: str | None = None, *, public: bool = False
    ) -> str:
        """The key prefix of a model's folder in this localizer's store.

        ``public=True``: the folder of a model read from the bucket's public manifest.
        """
        return local_model_prefix(
            model_id,
            revision,
            bucket_folder=self._bucket_folder,
            public=public,
            default_revision_name=self.config.default_revision_name,
        )

    async def cached(self, model_id: str, revision: str | None = None) -> CachedModel | None:
        """The cached model, or ``None`` when the store does not hold it completely."""
        prefix = self.model_prefix(model_id, revision)
        record = await self._load_own(prefix, model_id, revision)
        if record is None:
            return None
        return CachedModel.from_record(record, self.backend.location(prefix))

    async def _load_own(
        self, prefix: str, model_id: str, revision: str | None
    ) -> ModelRecord | None:
        record = await self.store.load(prefix)
        # Folder names are lossy for revisions too ('refs/pr/1' and 'refs_pr_1'): the
        # metadata says which one the folder holds, and another one is never served from it.
        if record is not None and (record.model_id, record.revision) != (model_id, revision):
            wanted, held = ModelRef(model_id, revision), ModelRef(record.model_id, record.revision)
            raise LayoutCollisionError(
                f"{str(wanted)!r} and {str(held)!r} map to the same folder "
                f"{self.backend.location(prefix)}, which holds {str(held)!r}; "
                f"use another store (models_store_path) for {str(wanted)!r}"
            )
        return record

    # -- one model -----------------------------------------------------------

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
        its card and config (``public-read``) in the public manifest.

        Raises an :class:`~hgloc.errors.HglocError` (a subclass naming what
        to do) on failure; the store is left as it was, or (full models) without
        metadata and resumable.
        """
        started = time.perf_counter()
        result = await self._fetch(
            model_id, revision, refresh=refresh, skip_hf_fetch=skip_hf_fetch,
            metadata_only=metadata_only, allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns, on_bytes=on_bytes,
        )  # fmt: skip
        if await self._wants_share(result, upload=upload, make_public=make_public):
            prefix = self.model_prefix(model_id, revision)
            result = await self._share(result, prefix, make_public=make_public)
        return attrs.evolve(result, seconds=time.perf_counter() - started)

    async def _fetch(
        self,
        model_id: str,
        revision: str | None,
        *,
        refresh: bool,
        metadata_only: bool,
        allow_patterns: Patterns,
        ignore_patterns: Patterns,
        skip_hf_fetch: bool = False,
        on_bytes: ByteProgress | None = None,
        in_bucket: Container[tuple[str, str | None]] | None = None,
    ) -> ModelResult:
        """:meth:`download` without the upload: from the store, else the bucket, else the Hub.

        ``in_bucket``: the models the bucket's index lists (a bulk run reads it once);
        the bucket is not asked for the others.
        """
        started = time.perf_counter()
        validate_model_id(model_id)
        validate_revision(revision)
        prefix = self.model_prefix(model_id, revision)
        existing = await self._load_own(prefix, model_id, revision)
        if existing is None and self._bucket_folder:
            public_prefix = self.model_prefix(model_id, revision, public=True)
            public = await self._load_own(public_prefix, model_id, revision)
            if public is not None and metadata_only and not refresh:
                return ModelResult(
                    model_id,
                    revision,
                    Status.SKIPPED,
                    self.backend.location(public_prefix),
                    public.commit,
                    seconds=time.perf_counter() - started,
                    source="store",
                )

        result: ModelResult | None = None
        wanted = existing is None or (not metadata_only and not existing.is_full_model)
        if not refresh and wanted and (in_bucket is None or (model_id, revision) in in_bucket):
            result = await self._from_bucket(model_id, revision, metadata_only)
        if result is None:
            result = await self._from_store_or_hub(
                model_id, revision, prefix, existing,
                refresh=refresh, skip_hf_fetch=skip_hf_fetch or self.config.is_offline,
                metadata_only=metadata_only, allow_patterns=allow_patterns,
                ignore_patterns=ignore_patterns, on_bytes=on_bytes,
            )  # fmt: skip
        return result

    async def _wants_share(
        self,
        result: ModelResult,
        *,
        upload: bool,
        make_public: bool,
        in_bucket: Container[tuple[str, str | None]] | None = None,
    ) -> bool:
        """Whether a model goes to the bucket after it was fetched.

        Yes when asked to publish it, and (``upload``, with credentials) when it
        came fresh from the Hub. With ``in_bucket`` (a bulk run read the index)
        also when this store holds it and the index does not: a run killed or cut
        from S3 between the two is completed by the next one.
        """
        if not self._bucket_folder or not result.ok:
            return False
        if make_public:
            return True
        # Without credentials a fetched model stays local (make_public says why it cannot).
        if not upload or await self.bucket() is None:
            return False
        if result.source == "hub" and result.status is Status.FETCHED:
            return True
        own = self.backend.location(self.model_prefix(result.model_id, result.revision))
        return (
            in_bucket is not None
            and result.source == "store"
            and result.path == own
            and (result.model_id, result.revision) not in in_bucket
        )

    async def _from_store_or_hub(
        self,
        model_id: str,
        revision: str | None,
        prefix: str,
        existing: ModelRecord | None,
        *,
        refresh: bool,
        skip_hf_fetch: bool,
        metadata_only: bool,
        allow_patterns: Patterns,
        ignore_patterns: Patterns,
        on_bytes: ByteProgress | None,
    ) -> ModelResult:
        location = self.backend.location(prefix)

        def result(status: Status, commit: str | None) -> ModelResult:
            source = "store" if status is Status.SKIPPED else "hub"
            return ModelResult(model_id, revision, status, location, commit, source=source)

        if not metadata_only or (refresh and existing is not None and existing.is_full_model):
            outcome = await self._download_full(
                model_id,
                revision,
                prefix,
                refresh=refresh,
                skip_hf_fetch=skip_hf_fetch,
                allow_patterns=allow_patterns,
                ignore_patterns=ignore_patterns,
                on_bytes=on_bytes,
            )
            return result(outcome.status, outcome.commit)
        if existing is not None and not refresh:
            return result(Status.SKIPPED, existing.commit)
        if skip_hf_fetch:
            where = "the store or the bucket" if self._bucket_folder else "the store"
            raise OfflineModeError(
                f"{model_id!r} is not in {where}, and offline mode (HF_HUB_OFFLINE or "
                "skip_hf_fetch) forbids asking the Hub"
            )
        if existing is not None and existing.commit:
            current = await self.source.commit_of(model_id, revision)
            if current == existing.commit:
                return result(Status.SKIPPED, existing.commit)
            revision_to_fetch = current  # fetch exactly the commit we just saw
        else:
            revision_to_fetch = revision or _DEFAULT_BRANCH

        card, config = await self._fetch_metadata(model_id, revision_to_fetch)
        files: dict[str, bytes] = {}
        records: dict[str, FileRecord] = {}
        for name, hub_file in ((CARD_FILE, card), (CONFIG_FILE, config)):
            if hub_file is not None:
                files[name] = hub_file.data
                records[name] = FileRecord(
                    hub_file.repo_path, len(hub_file.data), hub_file.sha1, hub_file.sha256
                )
        first = card or config
        assert first is not None
        record = ModelRecord(
            model_id=model_id,
            revision=revision,
            commit=first.commit,
            files=records,
            s3_bucket_name=self.config.s3_bucket_name,
            s3_endpoint_url=self.config.s3_endpoint_url,
            s3_data_prefix=self.config.s3_data_prefix if self.config.s3_bucket_name else None,
            resolved_repo_id=first.resolved_repo_id if first.resolved_repo_id != model_id else None,
        )
        # A full download of this folder may have finished meanwhile (it takes the
        # same lock): never replace its record with a metadata-only one.
        async with self._folder_locks.setdefault(prefix, anyio.Lock()):
            now = await self._load_own(prefix, model_id, revision)
            if (
                now is not None
                and now != existing
                and (now.is_full_model or now.commit == first.commit)
            ):
                return result(Status.SKIPPED, now.commit)
            await self.store.save(prefix, files, record, replacing=now is not None)
        logger.info(
            "cached %s@%s (%s) in %s", model_id, revision or "default", first.commit, location
        )
        return result(Status.FETCHED, first.commit)

    async def _download_full(
        self,
        model_id: str,
        revision: str | None,
        prefix: str,
        *,
        refresh: bool,
        skip_hf_fetch: bool,
        allow_patterns: Patterns,
        ignore_patterns: Patterns,
        on_bytes: ByteProgress | None,
    ) -> Outcome:
        lock = self._folder_locks.setdefault(prefix, anyio.Lock())
        # The folder lock keeps other processes out too; either may have completed it.
        async with lock, model_folder_lock(self.backend, prefix):
            existing = await self._load_own(prefix, model_id, revision)

            def make_record(
                commit: str, files: Mapping[str, FileRecord], repo_id: str, is_full: bool
            ) -> ModelRecord:
                return ModelRecord(
                    model_id=model_id,
                    revision=revision,
                    commit=commit,
                    files=files,
                    is_full_model=is_full,
                    s3_bucket_name=self.config.s3_bucket_name,
                    s3_endpoint_url=self.config.s3_endpoint_url,
                    s3_data_prefix=self.config.s3_data_prefix
                    if self.config.s3_bucket_name
                    else None,
                    resolved_repo_id=repo_id if repo_id != model_id else None,
                )

            job = FullModelJob(
                source=lambda: self.source,
                backend=self.backend,
                settings=self.transfer,
                slots=self._transfer_slots,
                staging_root=staging_root(self.backend, self.transfer.staging_dir),
                model_id=model_id,
                revision=revision,
                prefix=prefix,
                make_record=make_record,
                on_bytes=on_bytes,
            )
            return await job.run(
                existing,
                refresh=refresh,
                skip_hf_fetch=skip_hf_fetch,
                allow_patterns=allow_patterns,
                ignore_patterns=ignore_patterns,
            )

    async def _fetch_metadata(
        self, model_id: str, revision: str
    ) -> tuple[HubFile | None, HubFile | None]:
        """The card and the config, both at one commit; either may be missing, not both."""
        card, config = await self._fetch_pair(model_id, revision)
        if card and config and card.commit and config.commit and card.commit != config.commit:
            # The branch moved between the two requests: take both at the card's commit.
            config = await self._fetch_optional(model_id, card.commit, CONFIG_FILE)
        if card is None and config is None:
            raise HubError(
                f"{model_id!r} at {revision!r} has neither README.md nor config.json; "
                "there is nothing to localize (check the id and revision)"
            )
        if config is not None:
            _parse_config(config.data, model_id)  # never store a config nobody can read
        return card, config

    async def _fetch_pair(
        self, model_id: str, revision: str
    ) -> tuple[HubFile | None, HubFile | None]:
        card, config = await gather(
            lambda: self._fetch_optional(model_id, revision, CARD_REPO_PATH),
            lambda: self._fetch_optional(model_id, revision, CONFIG_FILE),
        )
        return card, config

    async def _fetch_optional(self, model_id: str, revision: str, path: str) -> HubFile | None:
        try:
            return await self.source.fetch(model_id, revision, path)
        except EntryNotFoundError:
            return None

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
        started = time.perf_counter()
        limit = concurrency or self.concurrency
        if limit < 1:
            raise ValueError(f"concurrency must be at least 1, got {limit}")
        entries: list[ModelRef | ModelResult] = []
        seen: set[ModelRef] = set()
        for item in model_ids:
            try:
                ref = item if isinstance(item, ModelRef) else parse_model_ref(item, revision)
                validate_model_id(ref.model_id)
                validate_revision(ref.revision)
            except InvalidModelIdError as exc:
                entries.append(_failure(str(item), revision, exc, 0.0))
                continue
            if ref not in seen:
                seen.add(ref)
                entries.append(ref)

        results: list[ModelResult | None] = [
            e if isinstance(e, ModelResult) else None for e in entries
        ]
        todo = iter([(i, e) for i, e in enumerate(entries) if isinstance(e, ModelRef)])

        def finish(index: int, result: ModelResult, began: float) -> None:
            results[index] = result = attrs.evolve(result, seconds=time.perf_counter() - began)
            if progress is not None:
                progress(result)

        # Uploads wait in a queue of small results (the bytes are in the local store) for
        # their own workers, so a slow bucket holds the uploads and not the Hub side.
        shares, queued = anyio.create_memory_object_stream[tuple[int, ModelResult, float]](math.inf)

        async def worker(shares: MemoryObjectSendStream[tuple[int, ModelResult, float]]) -> None:
            async with shares:
                for index, ref in todo:  # a shared iterator: each ref is taken by one worker
                    began = time.perf_counter()
                    result = await self._reporting(
                        ref,
                        self._fetch,
                        refresh=refresh,
                        metadata_only=metadata_only,
                        allow_patterns=allow_patterns,
                        ignore_patterns=ignore_patterns,
                        in_bucket=in_bucket,
                    )
                    share = await self._wants_share(
                        result, upload=upload, make_public=make_public, in_bucket=in_bucket
                    )
                    if share:
                        await shares.send((index, result, began))
                    else:
                        finish(index, result, began)

        async def uploader(
            queued: MemoryObjectReceiveStream[tuple[int, ModelResult, float]],
        ) -> None:
            async with queued:
                async for index, result, began in queued:
                    prefix = self.model_prefix(result.model_id, result.revision)
                    finish(index, await self._share(result, prefix, make_public=make_public), began)

        tier = await self.bucket() if self._bucket_folder and upload else None
        # One read of the bucket's index tells which models to look for in the bucket.
        in_bucket = await self._bucket_listing() if self._bucket_folder else None
        workers = min(limit, len(entries))
        # A bulk run writes the bucket's index once at the end, not once per model.
        # The streams close as the block ends, so uploaders stop when the last worker does.
        async with (
            _indexing(tier) as index_failure,
            task_group() as tg,
            shares,
            queued,
        ):
            for _ in range(workers):
                tg.start_soon(worker, shares.clone())
            for _ in range(min(workers, DEFAULT_SYNC_CONCURRENCY)):
                tg.start_soon(uploader, queued.clone())
        for entry in entries:
            if isinstance(entry, ModelResult) and progress is not None:
                progress(entry)
        done = _unindexed_failed(results, tier, index_failure)
        return PrefetchReport(done, time.perf_counter() - started)

    async def _reporting(
        self, ref: ModelRef, action: Callable[..., Awaitable[ModelResult]], **options: Any
    ) -> ModelResult:
        """Run ``action`` for one model of a bulk run, turning its failure into a result."""
        started = time.perf_counter()
        try:
            return await action(ref.model_id, ref.revision, **options)
        except (HglocError, OSError) as exc:  # OSError: a store that is full or read-only
            return _failure(ref.model_id, ref.revision, exc, time.perf_counter() - started)

    async def _bucket_listing(self) -> frozenset[tuple[str, str | None]] | None:
        """The models the bucket's index lists; ``None`` (ask per model) when unreadable."""
        try:
            entries = await self.list_bucket_models()
        except HglocError as exc:
            logger.warning("could not read the bucket's index (%s); looking up each model", exc)
            return None
        return frozenset((e.model_id, e.revision) for e in entries)

    # -- the team bucket -----------------------------------------------------

    async def bucket(self) -> BucketTier | None:
        """The bucket tier when a bucket is configured and AWS credentials are found.

        Without credentials, the bucket is read through its public manifest only.
        """
        await self._open_bucket()
        return self._tier

    async def _open_bucket(self) -> None:
        if not self.config.s3_bucket_name or self._bucket_opened:
            return
        async with self._bucket_lock:
            if self._bucket_opened:
                return
            from hgloc.backends import S3Backend

            credentials = await anyio.to_thread.run_sync(_has_aws_credentials, self.config)
            backend = S3Backend(
                self.config.s3_bucket_name,
                prefix=self.config.s3_data_prefix,
                endpoint_url=self.config.s3_endpoint_url,
                access_key_id=self.config.aws_access_key_id if credentials else None,
                secret_access_key=self.config.aws_secret_access_key if credentials else None,
                anonymous=not credentials,
            )
            tier = BucketTier(self.config, backend)
            if credentials:
                self._tier = tier
            else:
                logger.info(
                    "no AWS credentials: reading %s through its public manifest", backend.name
                )
                self._public = PublicReader(tier, timeout=self.config.request_timeout)
            self._bucket_opened = True

    async def _from_bucket(
        self, model_id: str, revision: str | None, metadata_only: bool
    ) -> ModelResult | None:
        """Copy a model from the bucket (or its public manifest) into the local store."""
        await self._open_bucket()
        if self._tier is not None:
            record = await self._tier.load(model_id, revision)
            if record is None or (not metadata_only and not record.is_full_model):
                return None
            prefix = self.model_prefix(model_id, revision)
            tier = self._tier
            folder = tier.folder(model_id, revision)
            # The folder may hold an older metadata-only copy: it stops counting as
            # cached before its files change, and a full download of it waits.
            async with self._folder_locks.setdefault(prefix, anyio.Lock()):
                await self.backend.delete(f"{prefix}/{METADATA_FILE}")
                for name, file in record.files.items():
                    await self.backend.write_stream(
                        f"{prefix}/{name}",
                        checked_stream(
                            tier.backend.read_stream(f"{folder}/{name}"),
                            file,
                            tier.backend.location(f"{folder}/{name}"),
                        ),
                    )
                local = attrs.evolve(record, cached_timestamp=_now())
                await self.store.save(prefix, {}, local, replacing=False)
            source = "bucket"
        elif self._public is not None and metadata_only:
            found = await self._public.fetch(model_id, revision)
            if found is None:
                return None
            local, files = found
            prefix = self.model_prefix(model_id, revision, public=True)
            await self.store.save(prefix, files, local)
            source = "public"
        else:
            return None
        logger.info("copied %s from the %s to %s", model_id, source, self.backend.location(prefix))
        return ModelResult(
            model_id,
            revision,
            Status.FETCHED,
            self.backend.location(prefix),
            local.commit,
            source=source,
        )

    async def _share(self, result: ModelResult, prefix: str, *, make_public: bool) -> ModelResult:
        """Upload a freshly cached model; a failed upload fails the result, saying why."""
        try:
            shared = await self.upload(
                result.model_id,
                result.revision,
                make_public=make_public,
                check_existing=result.source != "hub",
            )
        except HglocError as exc:
            return attrs.evolve(
                result,
                status=Status.FAILED,
                error=(
                    f"cached at {result.path}, but sharing it through the bucket failed: "
                    f"{exc}; run sync-local-model-to-s3 to retry"
                ),
                error_type=type(exc).__name__,
            )
        return attrs.evolve(result, shared=shared.path)

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
        """
        started = time.perf_counter()
        validate_model_id(model_id)
        validate_revision(revision)
        tier = await self._require_bucket()
        prefix = self.model_prefix(model_id, revision)
        record = await self._load_own(prefix, model_id, revision)
        if record is None:
            raise ObjectNotFoundError(
                f"{model_id!r} is not in the local store {self.backend.location(prefix)}; "
                "download it first"
            )

        def read_local(name: str) -> AsyncIterator[bytes]:
            # Hashed on the way up: a local copy that rotted fails the upload (nothing lands)
            # instead of reaching the bucket under the hash of the good bytes.
            key = f"{prefix}/{name}"
            return checked_stream(
                self.backend.read_stream(key), record.files[name], self.backend.location(key)
            )

        wrote = await tier.upload(
            record, read_local=read_local, make_public=make_public, check_existing=check_existing
        )
        return ModelResult(
            model_id,
            revision,
            Status.UPLOADED if wrote else Status.SKIPPED,
            tier.backend.location(tier.folder(model_id, revision)),
            record.commit,
            seconds=time.perf_counter() - started,
            source="store",
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
        started = time.perf_counter()
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        await self._require_bucket()
        # Copies read from the public manifest came from the bucket: not uploaded again.
        models = await self.list_models(public_copies=False)
        refs = iter(enumerate(ModelRef(m.model_id, m.revision) for m in models))
        results: list[ModelResult | None] = [None] * len(models)
        unreachable = 0

        async def worker() -> None:
            nonlocal unreachable
            for index, ref in refs:
                if unreachable >= _UNREACHABLE_LIMIT:
                    result = _failure(
                        ref.model_id,
                        ref.revision,
                        BackendUnavailableError(
                            "not synced: the bucket stopped answering; rerun to resume"
                        ),
                        0.0,
                    )
                else:
                    result = await self._reporting(ref, self.upload, make_public=make_public)
                    down = result.error_type == BackendUnavailableError.__name__
                    unreachable = unreachable + 1 if down else 0
                results[index] = result
                if progress is not None:
                    progress(result)

        tier = await self._require_bucket()
        async with _indexing(tier) as index_failure, task_group() as tg:
            for _ in range(min(concurrency, len(models))):
                tg.start_soon(worker)
        done = _unindexed_failed(results, tier, index_failure)
        return PrefetchReport(done, time.perf_counter() - started)

    async def list_bucket_models(self) -> list[BucketEntry]:
        """The models the bucket's indexes list (only the public ones without credentials)."""
        if not self.config.s3_bucket_name:
            raise ValueError("no bucket configured: set HGLOC_S3_BUCKET_NAME (s3_bucket_name)")
        await self._open_bucket()
        if self._tier is not None:
            return await self._tier.entries()
        assert self._public is not None
        return await self._public.entries()

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
        from hgloc._verify import verify_models

        refs = None
        if model_ids is not None:
            refs = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in model_ids]
        return await verify_models(self, refs, bucket=bucket, repair=repair)

    async def _require_bucket(self) -> BucketTier:
        if not self.config.s3_bucket_name:
            raise ValueError("no bucket configured: set HGLOC_S3_BUCKET_NAME (s3_bucket_name)")
        tier = await self.bucket()
        if tier is None:
            raise StorePermissionError(
                "no AWS credentials found for the bucket: set HGLOC_AWS_ACCESS_KEY_ID and "
                "HGLOC_AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / AWS_ACCESS_KEY_ID)"
            )
        return tier

    # -- reading -------------------------------------------------------------

    async def list_models(self, *, public_copies: bool = True) -> list[CachedModel]:
        """Every model this store holds completely, for this localizer's bucket setting.

        With a bucket: the models of that bucket's folder and (unless
        ``public_copies=False``) the copies read from its public manifest.
        Without: the models at the store's root.
        """
        return await self.store.cached_models(self._bucket_folder, public_copies=public_copies)

    async def cached_card(self, model_id: str, revision: str | None = None) -> str | None:
        """The cached model card, or ``None`` if the store does not hold it."""
        data = await self._cached_file(model_id, revision, CARD_FILE)
        return None if data is None else data.decode("utf-8", errors="replace")

    async def cached_config(
        self, model_id: str, revision: str | None = None
    ) -> dict[str, Any] | None:
        """The cached ``config.json`` as a dict, or ``None`` if the store does not hold it."""
        data = await self._cached_file(model_id, revision, CONFIG_FILE)
        return None if data is None else _parse_config(data, model_id)

    async def _cached_file(self, model_id: str, revision: str | None, name: str) -> bytes | None:
        for public in (False, True) if self._bucket_folder else (False,):
            prefix = self.model_prefix(model_id, revision, public=public)
            record = await self._load_own(prefix, model_id, revision)
            if record is not None:
                if name not in record.files:
                    return None
                return await self.backend.read(f"{prefix}/{name}")
        return None

    async def hub_card(self, model_id: str, revision: str | None = None) -> str:
        """The model card straight from the Hub; nothing is stored."""
        validate_model_id(model_id)
        validate_revision(revision)
        hub_file = await self.source.fetch(model_id, revision or _DEFAULT_BRANCH, CARD_REPO_PATH)
        return hub_file.data.decode("utf-8", errors="replace")

    async def hub_config(self, model_id: str, revision: str | None = None) -> dict[str, Any]:
        """``config.json`` straight from the Hub, parsed; nothing is stored."""
        validate_model_id(model_id)
        validate_revision(revision)
        hub_file = await self.source.fetch(model_id, revision or _DEFAULT_BRANCH, CONFIG_FILE)
        return _parse_config(hub_file.data, model_id)


@contextlib.asynccontextmanager
async def _indexing(tier: BucketTier | None) -> AsyncIterator[list[HglocError]]:
    """Defer the bucket's index updates to the end of a bulk run; collect a failed update.

    A bulk run reports per model: an index that cannot be written at the end
    (the bucket went away) fails the models it leaves out, it does not raise.
    """
    failures: list[HglocError] = []
    if tier is None:
        yield failures
        return
    body_done = False
    try:
        async with tier.deferred_index():
            yield failures
            body_done = True
    except HglocError as exc:
        if not body_done:
            raise  # the run itself failed: that is not an index problem
        failures.append(exc)


def _unindexed_failed(
    results: Iterable[ModelResult | None], tier: BucketTier | None, failures: list[HglocError]
) -> tuple[ModelResult, ...]:
    """Results, with models whose index entry could not be written turned into failures."""
    done = [r for r in results if r is not None]
    if tier is None or not failures:
        return tuple(done)
    missing = tier.unindexed()
    reason = (
        f"uploaded, but the bucket's index could not be updated ({failures[0]}); rerun to resume"
    )
    return tuple(
        attrs.evolve(r, status=Status.FAILED, error=reason, error_type=type(failures[0]).__name__)
        if r.ok and (r.model_id, r.revision) in missing
        else r
        for r in done
    )


def _failure(
    model_id: str, revision: str | None, exc: BaseException, seconds: float
) -> ModelResult:
    return ModelResult(
        model_id,
        revision,
        Status.FAILED,
        error=str(exc) or type(exc).__name__,
        error_type=type(exc).__name__,
        seconds=seconds,
    )


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat()


def _has_aws_credentials(config: Config) -> bool:
    """Whether requests to the bucket can be signed: HGLOC_* keys or the AWS chain."""
    if config.aws_access_key_id and config.aws_secret_access_key:
        return True
    import botocore.session

    return botocore.session.get_session().get_credentials() is not None


def _parse_config(data: bytes, model_id: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)  # accepts NaN/Infinity, as transformers writes them
    except (ValueError, RecursionError) as exc:  # RecursionError: '[[[[...' nested too deep
        raise HubError(f"config.json of {model_id!r} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise HubError(f"config.json of {model_id!r} is not a JSON object")
    return parsed
