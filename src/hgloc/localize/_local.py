"""The local store as one localizer sees it: its folders, records and locks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hgloc.backends import StorageBackend
from hgloc.config import Config
from hgloc.layout import FileRecord, ModelRecord, local_model_prefix
from hgloc.store import CachedModel, FolderLocks, ModelStore

__all__ = ["LocalStore", "now"]


class LocalStore:
    """Model folders of one bucket setting in one backend (see ``Config.bucket_folder``)."""

    def __init__(self, config: Config, backend: StorageBackend) -> None:
        self.config = config
        self.backend = backend
        self.models = ModelStore(backend)
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

    async def cached(self, model_id: str, revision: str | None = None) -> CachedModel | None:
        """The cached model, or ``None`` when the store does not hold it completely."""
        record = await self.load(model_id, revision)
        if record is None:
            return None
        return CachedModel.from_record(record, self.location(self.prefix(model_id, revision)))

    async def read_file(self, model_id: str, revision: str | None, name: str) -> bytes | None:
        """A file of a cached model (its own folder, else a public copy); ``None`` if absent."""
        for public in (False, True) if self.bucket_folder else (False,):
            record = await self.load(model_id, revision, public=public)
            if record is not None:
                if name not in record.files:
                    return None
                prefix = self.prefix(model_id, revision, public=public)
                return await self.backend.read(f"{prefix}/{name}")
        return None

    async def list(self, *, public_copies: bool = True) -> list[CachedModel]:
        """Every model held completely (see ``Localizer.list_models``)."""
        return await self.models.cached_models(self.bucket_folder, public_copies=public_copies)

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
