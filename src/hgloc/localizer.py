"""The async core: from the Hub into a store, one model or hundreds at a time."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

import anyio
import attrs

from hgloc._aio import gather
from hgloc._model_store import ModelStore
from hgloc._results import CachedModel, ModelResult, PrefetchReport, Status
from hgloc.backends import LocalBackend, StorageBackend
from hgloc.config import DEFAULT_CONCURRENCY, Config
from hgloc.errors import (
    EntryNotFoundError,
    HglocError,
    HubError,
    InvalidModelIdError,
    LayoutCollisionError,
    OfflineModeError,
)
from hgloc.layout import (
    CARD_FILE,
    CARD_REPO_PATH,
    CONFIG_FILE,
    FileRecord,
    ModelRecord,
    bucket_id,
    local_model_prefix,
    validate_model_id,
    validate_revision,
)
from hgloc.sources import HubFile, HuggingFaceSource, RetryPolicy

__all__ = ["DEFAULT_CONCURRENCY", "Localizer", "ModelRef", "parse_model_ref"]

logger = logging.getLogger("hgloc")

_DEFAULT_BRANCH = "main"

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


class Localizer:
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
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.config = config if config is not None else Config.from_env()
        self.backend: StorageBackend = store or LocalBackend(self.config.store_path)
        self.store = ModelStore(self.backend)
        self.concurrency = concurrency
        self._retry = retry or RetryPolicy(max_retries=self.config.max_retries)
        self._source: HuggingFaceSource | None = None
        self._bucket_folder = (
            bucket_id(self.config.s3_bucket_name, self.config.s3_endpoint_url)
            if self.config.s3_bucket_name
            else None
        )

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and the store."""
        with anyio.CancelScope(shield=True):
            if self._source is not None:
                await self._source.aclose()
                self._source = None
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

    def model_prefix(self, model_id: str, revision: str | None = None) -> str:
        """The key prefix of a model's folder in this localizer's store."""
        return local_model_prefix(
            model_id,
            revision,
            bucket_folder=self._bucket_folder,
            default_revision_name=self.config.default_revision_name,
        )

    async def cached(self, model_id: str, revision: str | None = None) -> CachedModel | None:
        """The cached model, or ``None`` when the store does not hold it completely."""
        prefix = self.model_prefix(model_id, revision)
        record = await self._load_own(prefix, model_id)
        if record is None:
            return None
        return CachedModel.from_record(record, self.backend.location(prefix))

    async def _load_own(self, prefix: str, model_id: str) -> ModelRecord | None:
        record = await self.store.load(prefix)
        if record is not None and record.model_id != model_id:
            raise LayoutCollisionError(
                f"{model_id!r} and {record.model_id!r} map to the same folder "
                f"{self.backend.location(prefix)}, which holds {record.model_id!r}; "
                f"use another store (models_store_path) for {model_id!r}"
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
    ) -> ModelResult:
        """Make sure the store holds the card and config of ``model_id``.

        Already cached: returns at once with status ``skipped`` and makes no
        request. With ``refresh=True`` it asks the Hub for the current commit
        (one cheap call) and refetches only when the commit moved.

        Raises an :class:`~hgloc.errors.HglocError` (a subclass naming what
        to do) on failure; the store is left as it was.
        """
        started = time.perf_counter()
        validate_model_id(model_id)
        validate_revision(revision)
        prefix = self.model_prefix(model_id, revision)
        existing = await self._load_own(prefix, model_id)
        location = self.backend.location(prefix)

        def result(status: Status, commit: str | None) -> ModelResult:
            return ModelResult(
                model_id, revision, status, location, commit, seconds=time.perf_counter() - started
            )

        if existing is not None and not refresh:
            return result(Status.SKIPPED, existing.commit)
        if skip_hf_fetch:
            raise OfflineModeError(
                f"{model_id!r} is not in the store and skip_hf_fetch forbids asking the Hub"
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
        await self.store.save(prefix, files, record)
        logger.info(
            "cached %s@%s (%s) in %s", model_id, revision or "default", first.commit, location
        )
        return result(Status.FETCHED, first.commit)

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
    ) -> PrefetchReport:
        """Cache many models at once; never stops on one model's failure.

        ``model_ids`` may hold ``"org/name"``, ``"org/name@revision"`` or
        :class:`ModelRef` values; ``revision`` applies to those without one.
        Duplicates are fetched once. Up to ``concurrency`` models are in
        flight over the one connection pool. ``progress`` is called with each
        model's :class:`ModelResult` as it finishes.

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

        async def worker() -> None:
            for index, ref in todo:  # a shared iterator: each ref is taken by one worker
                results[index] = result = await self._download_reporting(ref, refresh)
                if progress is not None:
                    progress(result)

        async with anyio.create_task_group() as tg:
            for _ in range(min(limit, len(entries)) or 0):
                tg.start_soon(worker)
        for entry in entries:
            if isinstance(entry, ModelResult) and progress is not None:
                progress(entry)
        done = tuple(r for r in results if r is not None)
        return PrefetchReport(done, time.perf_counter() - started)

    async def _download_reporting(self, ref: ModelRef, refresh: bool) -> ModelResult:
        started = time.perf_counter()
        try:
            return await self.download(ref.model_id, ref.revision, refresh=refresh)
        except HglocError as exc:
            return _failure(ref.model_id, ref.revision, exc, time.perf_counter() - started)
        except OSError as exc:  # a store that cannot be written, a disk that is full
            return _failure(ref.model_id, ref.revision, exc, time.perf_counter() - started)

    # -- reading -------------------------------------------------------------

    async def list_models(self) -> list[CachedModel]:
        """Every model this store holds completely, for this localizer's bucket setting."""
        root = f"by_bucket/{self._bucket_folder}" if self._bucket_folder else ""
        models = await self.store.list(root)
        out = []
        for stored in models:
            # Without a bucket, by_bucket/ and public/ belong to other settings.
            if not self._bucket_folder and stored.prefix.startswith(("by_bucket/", "public/")):
                continue
            out.append(CachedModel.from_record(stored.record, self.backend.location(stored.prefix)))
        return out

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
        prefix = self.model_prefix(model_id, revision)
        record = await self._load_own(prefix, model_id)
        if record is None or name not in record.files:
            return None
        return await self.backend.read(f"{prefix}/{name}")

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


def _parse_config(data: bytes, model_id: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)  # accepts NaN/Infinity, as transformers writes them
    except ValueError as exc:
        raise HubError(f"config.json of {model_id!r} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise HubError(f"config.json of {model_id!r} is not a JSON object")
    return parsed
