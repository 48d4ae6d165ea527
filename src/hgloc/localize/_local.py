"""The local store as one localizer sees it: its folders, records and locks."""

from __future__ import annotations

import builtins
import datetime as dt
import re
from collections.abc import Mapping

import attrs

from hgloc.backends import StorageBackend
from hgloc.config import Config
from hgloc.errors import IndexCorruptError
from hgloc.layout import METADATA_FILE, FileRecord, ModelRecord, local_model_prefix
from hgloc.sources._hub_protocol import is_commit
from hgloc.store import Aliases, CachedModel, FolderLocks, ModelStore, StoredModel

__all__ = ["DamagedFolder", "LocalStore", "now"]


@attrs.frozen
class DamagedFolder:
    """A model folder whose metadata file does not parse (or names what it must not).

    ``model_id`` and ``revision`` are what could still be read from it, if anything.
    """

    prefix: str
    problem: str
    model_id: str | None = None
    revision: str | None = None


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
        :meth:`folders`, then those of the id an alias names (a renamed repo).

        A commit id also finds a folder stored under a branch or tag name that
        resolved to that commit (a commit never changes, so its files are those).
        """
        found = await self._find_named(model_id, revision)
        if found is None and is_commit(revision):
            found = await self._find_commit(model_id, revision)
        return found

    async def _find_named(self, model_id: str, revision: str | None) -> StoredModel | None:
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

    async def _find_commit(self, model_id: str, commit: str) -> StoredModel | None:
        """A folder of ``model_id`` (or of the id its alias names) whose record is at ``commit``;
        a full copy before a card-and-config one."""
        target = await self.aliases.resolve(model_id)
        ids = [model_id] if target in (None, model_id) else [model_id, target]
        held: list[StoredModel] = []
        for one in ids:
            # The revisions of one model are sibling folders; each bucket setting has its own.
            roots = dict.fromkeys(p.rpartition("/")[0] for p in self.folders(one))
            for root in roots:
                held += [
                    s
                    for s in await self.models.list(root, nested=False)
                    if s.record.model_id == one and s.record.commit == commit
                ]
        if not held:
            return None
        return max(held, key=lambda s: s.record.is_full_model)

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

    async def damaged(self) -> builtins.list[DamagedFolder]:
        """The folders of this bucket setting whose metadata is damaged (listings skip them)."""
        if not self.bucket_folder:
            roots = [""]
        else:
            roots = [f"by_bucket/{self.bucket_folder}", f"public/by_bucket/{self.bucket_folder}"]
        suffix = "/" + METADATA_FILE
        out: builtins.list[DamagedFolder] = []
        for root in roots:
            keys = [k async for k in self.backend.list_keys(root) if k.endswith(suffix)]
            if not root:
                keys = [k for k in keys if not k.startswith(("by_bucket/", "public/"))]
            raw = await self.backend.read_many(keys)
            for key in sorted(raw):
                prefix = key[: -len(suffix)]
                if prefix.count("/") < 1:
                    continue
                try:
                    ModelRecord.from_bytes(raw[key], where=self.backend.location(key))
                except IndexCorruptError as exc:
                    out.append(DamagedFolder(prefix, str(exc), *_readable_ids(raw[key])))
                except KeyError:
                    continue  # another tool's file without ids: adopted by a download
        return out

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


_ID = re.compile(rb'"model_id"\s*:\s*"([^"\\]{1,200})"')
_REVISION = re.compile(rb'"revision"\s*:\s*(?:null|"([^"\\]{1,255})")')


def _readable_ids(raw: bytes) -> tuple[str | None, str | None]:
    """The model id and revision a damaged metadata file still names, if any.

    Read by pattern: a truncated file still names them. The caller trusts them only
    when they map to the folder the file is in.
    """
    found = _ID.search(raw)
    if found is None:
        return None, None
    revision = _REVISION.search(raw)
    rev = revision.group(1) if revision is not None else None
    try:
        return found.group(1).decode(), None if rev is None else rev.decode()
    except UnicodeDecodeError:
        return None, None
