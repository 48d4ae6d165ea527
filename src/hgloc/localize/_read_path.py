"""The read path: tiers asked in order until one answers for a model.

Own store → public copy → another folder of the store (or alias) → team bucket
(or its public manifest) → Hub. Each tier's ``get(lookup)`` returns a result or
``None`` (not mine to answer); the Hub always answers, or raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence
from typing import Protocol

import anyio
import attrs

from hgloc.bucket import BucketAccess, checked_stream, load_at_commit
from hgloc.errors import BackendUnavailableError, IndexCorruptError, OfflineModeError
from hgloc.layout import (
    CARD_FILE,
    CONFIG_FILE,
    HASHES_RECEIVED,
    METADATA_FILE,
    FileRecord,
    ModelRecord,
)
from hgloc.localize._hub_metadata import DEFAULT_BRANCH, HubClient, fetch_metadata
from hgloc.localize._local import LocalStore, now
from hgloc.localize._request import ModelRequest
from hgloc.localize._results import ModelResult, Source, Status
from hgloc.sources import HashSource, HuggingFaceSource
from hgloc.sources._hub_protocol import is_commit
from hgloc.store import place_folder
from hgloc.transfer import FullModelJob, TransferSettings, staging_root

__all__ = [
    "BucketCopy",
    "HubTier",
    "Lookup",
    "OwnCopy",
    "PublicCopy",
    "ReadPath",
    "StoredElsewhere",
    "Tier",
]

logger = logging.getLogger("hgloc")

InBucket = Container[tuple[str, str | None]]
OnStored = Callable[[ModelRequest], Awaitable[None]]
_BUCKET_DOWN_SECONDS = 30.0  # after the bucket failed to answer, later models skip it this long


@attrs.frozen
class Lookup:
    """One request as the tiers see it: the store's own folder and what it holds now.

    ``in_bucket``: the models the bucket's index lists (a bulk run reads it once);
    the bucket is not asked for the others. ``None``: ask it for any model.
    """

    request: ModelRequest
    prefix: str
    existing: ModelRecord | None
    in_bucket: InBucket | None = None
    skipped: list[str] = attrs.field(factory=list)  # tiers that could not be reached, and why
    # The record a tier just saved in ``prefix``: what follows needs no re-reading of it.
    saved: list[ModelRecord] = attrs.field(factory=list)

    def stored(self, record: ModelRecord) -> None:
        """Note the record a tier saved in the store's own folder (``prefix``)."""
        self.saved.append(record)

    def result(self, status: Status, commit: str | None, source: Source, path: str) -> ModelResult:
        req = self.request
        return ModelResult(req.model_id, req.revision, status, path, commit, source=source)


class Tier(Protocol):
    """One place a model may come from."""

    async def get(self, lookup: Lookup) -> ModelResult | None:
        """The model from here, or ``None`` when this tier does not answer for it."""
        ...


class ReadPath:
    """Asks its tiers in order; the last one must answer."""

    def __init__(
        self, local: LocalStore, tiers: Sequence[Tier], on_stored: OnStored | None = None
    ) -> None:
        self.local = local
        self.tiers = tuple(tiers)
        self.on_stored = on_stored  # told of each model fetched into the store

    async def get(self, request: ModelRequest, in_bucket: InBucket | None = None) -> ModelResult:
        """The model in the store, from the first tier that has it (the store is not shared)."""
        prefix = self.local.prefix(request.model_id, request.revision)
        existing = await self._existing(request, prefix)
        lookup = Lookup(request, prefix, existing, in_bucket)
        for tier in self.tiers:
            result = await tier.get(lookup)
            if result is not None:
                if result.source is Source.HUB and result.status is Status.FETCHED:
                    await self._remember_rename(lookup)
                if result.status is Status.FETCHED and self.on_stored is not None:
                    await self.on_stored(request)
                if lookup.skipped and result.source is Source.HUB:
                    # Nothing is lost: a model the bucket's index lacks is uploaded by
                    # sync-all-local-models-to-s3, or by the next prefetch.
                    pending = "; the upload is pending: sync-all-local-models-to-s3 does it"
                    warnings = tuple(w + pending for w in lookup.skipped)
                    result = attrs.evolve(result, warnings=warnings, upload_pending=True)
                return result
        raise AssertionError("the last tier of a read path always answers")

    async def _remember_rename(self, lookup: Lookup) -> None:
        """The Hub redirected the id (a renamed repo): the new name finds the copy too."""
        record = lookup.saved[-1] if lookup.saved else await self.local.models.load(lookup.prefix)
        if record is not None and record.resolved_repo_id:
            await self.local.aliases.add(record.resolved_repo_id, record.model_id)

    async def _existing(self, request: ModelRequest, prefix: str) -> ModelRecord | None:
        """The folder's metadata; a damaged one is rebuilt by a refresh, else reported."""
        try:
            return await self.local.models.load_model(prefix, request.model_id, request.revision)
        except IndexCorruptError as exc:
            if not request.refresh:
                raise IndexCorruptError(
                    f"{exc} (or run `hgloc download-model {request.model_id} --refresh` "
                    "or `hgloc verify --repair`, which rebuild it)"
                ) from exc
        logger.warning("rebuilding the damaged metadata of %s", self.local.location(prefix))
        await self.local.backend.delete(f"{prefix}/{METADATA_FILE}")
        return None


class StoredElsewhere:
    """Another folder of the store holding the model: cached before a bucket was
    configured, HG-Localization's public folder, under another name (an alias), or,
    for a commit id, the folder of a branch or tag that resolved to that commit."""

    def __init__(self, local: LocalStore) -> None:
        self.local = local

    async def get(self, lookup: Lookup) -> ModelResult | None:
        req = lookup.request
        if lookup.existing is not None or req.refresh:
            return None
        found = await self.local.find(req.model_id, req.revision)
        if found is None or found.prefix == lookup.prefix:
            return None
        if req.full and not found.record.is_full_model:
            return None
        record = found.record
        by_commit = record.model_id == req.model_id and record.revision != req.revision
        if not by_commit:  # the same name elsewhere, or an alias: answered from there
            path = self.local.location(found.prefix)
            return lookup.result(Status.SKIPPED, record.commit, Source.STORE, path)
        # The commit asked for is held as a branch or tag: its own folder, as the layout
        # has it, gets the same files (hard links on a local store), with no request.
        # Not public: that flag is about the bucket's copy of the other name.
        placed = attrs.evolve(
            record, revision=req.revision, is_public=False, cached_timestamp=now()
        )
        async with self.local.locks.exclusive(lookup.prefix, clean=True):
            # Another task may have placed it while this one waited for the lock.
            now_held = await self.local.models.load(lookup.prefix)
            if now_held is None or now_held.commit != record.commit:
                await place_folder(self.local.backend, found.prefix, lookup.prefix, placed)
            else:
                placed = now_held
        lookup.stored(placed)
        path = self.local.location(lookup.prefix)
        return lookup.result(Status.SKIPPED, record.commit, Source.STORE, path)


class OwnCopy:
    """The store's own folder, when it holds what is asked and no refresh is wanted."""

    def __init__(self, local: LocalStore) -> None:
        self.local = local

    async def get(self, lookup: Lookup) -> ModelResult | None:
        req, existing = lookup.request, lookup.existing
        if existing is None or req.refresh or (req.full and not existing.is_full_model):
            return None
        path = self.local.location(lookup.prefix)
        return lookup.result(Status.SKIPPED, existing.commit, Source.STORE, path)


class PublicCopy:
    """A copy read from the bucket's public manifest earlier, for card-and-config requests."""

    def __init__(self, local: LocalStore) -> None:
        self.local = local

    async def get(self, lookup: Lookup) -> ModelResult | None:
        req = lookup.request
        if lookup.existing is not None or not self.local.bucket_folder:
            return None
        public = await self.local.load(req.model_id, req.revision, public=True)
        if public is None or req.full or req.refresh:
            return None
        path = self.local.location(self.local.prefix(req.model_id, req.revision, public=True))
        return lookup.result(Status.SKIPPED, public.commit, Source.STORE, path)


class BucketCopy:
    """The team bucket: copied (checked) from its tier, or without credentials its manifest."""

    def __init__(self, local: LocalStore, bucket: BucketAccess) -> None:
        self.local = local
        self.bucket = bucket
        self._down_until = 0.0  # the bucket did not answer: skipped until then

    async def get(self, lookup: Lookup) -> ModelResult | None:
        req, existing = lookup.request, lookup.existing
        wanted = existing is None or (req.full and not existing.is_full_model)
        if req.refresh or not wanted or not self.bucket.configured:
            return None
        if lookup.in_bucket is not None and req.key not in lookup.in_bucket:
            return None  # (the listing has each folder's commit too: see _bulk.py)
        if time.monotonic() < self._down_until:
            lookup.skipped.append("the bucket was skipped (it did not answer a moment ago)")
            return None
        try:
            return await self._copy(lookup)
        except BackendUnavailableError as exc:
            # The Hub still has the model: a bucket that is down costs the sharing, not it.
            self._down_until = time.monotonic() + _BUCKET_DOWN_SECONDS
            logger.warning(
                "the bucket could not be used (%s): skipped, fetching from the Hub; "
                "sync-all-local-models-to-s3 uploads what it lacks later",
                exc,
            )
            lookup.skipped.append(f"the bucket was skipped ({exc})")
            return None

    async def _copy(self, lookup: Lookup) -> ModelResult | None:
        req = lookup.request
        tier = await self.bucket.tier()
        public = await self.bucket.public()
        if tier is not None:
            record = await tier.load(req.model_id, req.revision)
            if record is None and is_commit(req.revision):
                record = await load_at_commit(tier, req.model_id, req.revision)
            if record is None or (req.full and not record.is_full_model):
                return None
            prefix, source = lookup.prefix, Source.BUCKET
            folder = tier.folder(req.model_id, record.revision)
            if record.revision != req.revision:
                # Held as a branch or tag at the commit asked for: stored here as the commit.
                record = attrs.evolve(record, revision=req.revision, is_public=False)
            # The folder may hold an older metadata-only copy: it stops counting as
            # cached before its files change, and a full download of it waits.
            async with self.local.locks.exclusive(prefix, clean=True):
                backend = self.local.backend
                await backend.delete(f"{prefix}/{METADATA_FILE}")
                for name, file in record.files.items():
                    key = f"{folder}/{name}"
                    await backend.write_stream(
                        f"{prefix}/{name}",
                        checked_stream(
                            tier.backend.read_stream(key), file, tier.backend.location(key)
                        ),
                    )
                local = attrs.evolve(record, cached_timestamp=now())
                await self.local.models.save(prefix, {}, local, replacing=False)
                lookup.stored(local)
        elif public is not None and req.metadata_only:
            found = await public.fetch(req.model_id, req.revision)
            if found is None:
                return None
            local, files = found
            prefix, source = (
                self.local.prefix(req.model_id, req.revision, public=True),
                Source.PUBLIC,
            )
            await self.local.models.save(prefix, files, local)
        else:
            return None
        path = self.local.location(prefix)
        logger.info("copied %s from the %s to %s", req.model_id, source, path)
        return lookup.result(Status.FETCHED, local.commit, source, path)


class HubTier:
    """The Hub: the card and config, or every file; refuses when offline."""

    def __init__(
        self,
        local: LocalStore,
        hub: HubClient,
        *,
        transfer: TransferSettings,
        slots: anyio.Semaphore,
        has_bucket: Callable[[], bool],
    ) -> None:
        self.local = local
        self.hub = hub
        self.transfer = transfer
        self.slots = slots
        self.has_bucket = has_bucket

    async def get(self, lookup: Lookup) -> ModelResult:
        req, existing = lookup.request, lookup.existing
        offline = req.skip_hf_fetch or self.local.config.is_offline
        if req.full or (req.refresh and existing is not None and existing.is_full_model):
            fetched, commit = await self._full(lookup, offline=offline)
            return self._result(lookup, Status.FETCHED if fetched else Status.SKIPPED, commit)
        if offline:
            where = "the store or the bucket" if self.has_bucket() else "the store"
            raise OfflineModeError(
                f"{req.model_id!r} is not in {where}, and offline mode (HF_HUB_OFFLINE or "
                "skip_hf_fetch) forbids asking the Hub"
            )
        return await self._metadata(lookup)

    def _result(self, lookup: Lookup, status: Status, commit: str | None) -> ModelResult:
        source = Source.STORE if status is Status.SKIPPED else Source.HUB
        return lookup.result(status, commit, source, self.local.location(lookup.prefix))

    async def _metadata(self, lookup: Lookup) -> ModelResult:
        req, existing, prefix = lookup.request, lookup.existing, lookup.prefix
        source = self.hub.source
        if existing is not None and existing.commit:
            current = await source.commit_of(req.model_id, req.revision)
            if current == existing.commit:
                return self._result(lookup, Status.SKIPPED, existing.commit)
            revision_to_fetch = current  # fetch exactly the commit we just saw
        else:
            revision_to_fetch = req.revision or DEFAULT_BRANCH

        card, config = await fetch_metadata(source, req.model_id, revision_to_fetch)
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
        record = self.local.record(
            req.model_id, req.revision, first.commit, records, repo_id=first.resolved_repo_id
        )
        if any(f is not None and f.hash_source is HashSource.LOCAL for f in (card, config)):
            record = attrs.evolve(record, hashes_source=HASHES_RECEIVED)
        # A full download of this folder may have finished meanwhile (it takes the
        # same lock): never replace its record with a metadata-only one.
        async with self.local.locks.exclusive(prefix, clean=True):
            now_held = await self.local.models.load_model(prefix, req.model_id, req.revision)
            if (
                now_held is not None
                and now_held != existing
                and (now_held.is_full_model or now_held.commit == first.commit)
            ):
                return self._result(lookup, Status.SKIPPED, now_held.commit)
            await self.local.models.save(prefix, files, record, replacing=now_held is not None)
            lookup.stored(record)
        logger.info(
            "cached %s@%s (%s) in %s",
            req.model_id,
            req.revision or "default",
            first.commit,
            self.local.location(prefix),
        )
        return self._result(lookup, Status.FETCHED, first.commit)

    async def _full(self, lookup: Lookup, *, offline: bool) -> tuple[bool, str | None]:
        req, prefix, local = lookup.request, lookup.prefix, self.local
        # The folder lock keeps other processes out too; either may have completed it.
        async with local.locks.exclusive(prefix, clean=True):
            existing = await local.models.load_model(prefix, req.model_id, req.revision)

            def make_record(
                commit: str, files: Mapping[str, FileRecord], repo_id: str, is_full: bool
            ) -> ModelRecord:
                return local.record(
                    req.model_id,
                    req.revision,
                    commit,
                    files,
                    repo_id=repo_id,
                    is_full_model=is_full,
                )

            job = FullModelJob(
                source=self._source,
                backend=local.backend,
                settings=self.transfer,
                slots=self.slots,
                staging_root=staging_root(local.backend, self.transfer.staging_dir),
                model_id=req.model_id,
                revision=req.revision,
                prefix=prefix,
                make_record=make_record,
                on_bytes=req.on_bytes,
            )
            outcome = await job.run(
                existing,
                refresh=req.refresh,
                skip_hf_fetch=offline,
                allow_patterns=req.allow_patterns,
                ignore_patterns=req.ignore_patterns,
            )
        return outcome.fetched, outcome.commit

    def _source(self) -> HuggingFaceSource:
        return self.hub.source
