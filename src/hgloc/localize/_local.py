"""The local store as one localizer sees it: its folders, records and locks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hgloc.backends import StorageBackend
from hgloc.config import Config
from hgloc.layout import FileRecord, ModelRecord, local_model_prefix
from hgloc.store import Aliases, CachedModel, FolderLocks, ModelStore, StoredModel

__all__ = ["LocalStore", "now"]


class LocalStore:
    """Model folders of one bucket setting in one backend (see ``Config.bucket_folder``)."""

    def __init__(self, config: Config, backend: StorageBackend) -> None:
        self.config = config
        self.backend = backend
        self.models = ModelStore(backend, default_revision_name=config.default_revision_name)
        self.aliases = Aliases(backend)
        self.locks = FolderLocks(backend)
        self.bucket_folder = config.bucket_folder

    def prefix(self, model_id: str, revision: str | None = None, *, public: bool = False) -> str:
        """The key prefix of a model's folder; ``public``: a copy read from the public manifest."""
        return local_model_prefix(
            model_id,
            revision,
            bucket_folder=self.bucket_folder,
            public=public,
            default_revision_name=self.config.default_revision_name,
        )

    def location(self, prefix: str) -> str:
        return self.backend.location(prefix)

    async def load(
        self, model_id: str, revision: str | None, *, public: bool = False
    ) -> ModelRecord | None:
        """The metadata of a model's folder (refusing another model's), ``None`` if not cached."""
        prefix = self.prefix(model_id, revision, public=public)
        return await self.models.load_model(prefix, model_id, revision)

    def folders(self, model_id: str, revision: str | None = None) -> list[str]:
        """The folders that may hold a model, in the order they are read.

        Its own folder, the public copy (with a bucket), then (with a bucket) the
        folders it was cached in before the bucket was configured, and the
        public folder HG-Localization's ``make_public`` wrote without a bucket.
        """

        def at(bucket_folder: str | None, public: bool) -> str:
            return local_model_prefix(
                model_id,
                revision,
                bucket_folder=bucket_folder,
                public=public,
                default_revision_name=self.config.default_revision_name,
            )

        found = [at(self.bucket_folder, False), at(self.bucket_folder, True)]
        found += [at(None, False), at(None, True)]
        return list(dict.fromkeys(found))

    async def find(self, model_id: str, revision: str | None = None) -> StoredModel | None:
        """The folder holding a model: its own (refusing another model's), the others of
        :meth:`folders`, then those of the id an alias names (a renamed repo)."""
        own, *others = self.folders(model_id, revision)
        record = await self.models.load_model(own, model_id, revision)
        if record is not None:
            return StoredModel(own, record)
        for prefix in others:
            record = await self.models.load(prefix)
            if record is not None and (record.model_id, record.revision) == (model_id, revision):
                return StoredModel(prefix, record)
        target = await self.aliases.resolve(model_id)
        if target is None or target == model_id:
            return None
        for prefix in self.folders(target, revision):
            record = await self.models.load(prefix)
            if record is not None and (record.model_id, record.revision) == (target, revision):
                return StoredModel(prefix, record)
        return None

    async def cached(self, model_id: str, revision: str | None = None) -> CachedModel | None:
        """The cached model, or ``None`` when the store does not hold it completely."""
        found = await self.find(model_id, revision)
        if found is None:
            return None
        return CachedModel.from_record(found.record, self.location(found.prefix), found.prefix)

    async def read_file(self, model_id: str, revision: str | None, name: str) -> bytes | None:
        """A file of a cached model (any folder of :meth:`find`); ``None`` if absent."""
        found = await self.find(model_id, revision)
        if found is None or name not in found.record.files:
            return None
        return await self.backend.read(f"{found.prefix}/{name}")

    async def list(
        self, *, public_copies: bool = True, public_only: bool = False
    ) -> list[CachedModel]:
        """Every model held completely (see ``ModelStore.cached_models``)."""
        return await self.models.cached_models(
            self.bucket_folder, public_copies=public_copies, public_only=public_only
        )

    def record(
        self,
        model_id: str,
        revision: str | None,
        commit: str | None,
        files: Mapping[str, FileRecord],
        *,
        repo_id: str,
        is_full_model: bool = False,
    ) -> ModelRecord:
        """A new folder's metadata, naming the bucket it belongs to, if any."""
        bucket = self.config.s3_bucket_name
        return ModelRecord(
            model_id=model_id,
            revision=revision,
            commit=commit,
            files=files,
            is_full_model=is_full_model,
            s3_bucket_name=bucket,
            s3_endpoint_url=self.config.s3_endpoint_url,
            s3_data_prefix=self.config.s3_data_prefix if bucket else None,
            resolved_repo_id=repo_id if repo_id != model_id else None,
        )


def now() -> str:
    """The time now, as metadata records it."""
    return dt.datetime.now(dt.UTC).isoformat()
