"""A model as the store holds it, ready to export: its record, its files, where their bytes are."""

from __future__ import annotations

from collections.abc import AsyncIterable
from pathlib import Path

import attrs

from hgloc.backends import LocalPaths, StorageBackend
from hgloc.errors import ObjectNotFoundError
from hgloc.hf_cache._layout import blob_name, checked_repo_path
from hgloc.hf_cache._links import local_chunks
from hgloc.hub_wire import git_blob_sha1
from hgloc.layout import FileRecord, ModelRecord
from hgloc.localize import Localizer, ModelRef

__all__ = ["StoredFile", "StoredModelCopy", "find_stored"]


@attrs.frozen
class StoredFile:
    """One file of a stored model: its record (always with a hash) and its key in the store."""

    key: str
    record: FileRecord

    @property
    def repo_path(self) -> str:
        return self.record.repo_path

    @property
    def etag(self) -> str:
        name = blob_name(self.record)
        assert name is not None  # find_stored fills in missing hashes
        return name


@attrs.frozen
class StoredModelCopy:
    """A complete model folder of the store, its files listed by repo path."""

    ref: ModelRef
    record: ModelRecord
    files: tuple[StoredFile, ...]
    backend: StorageBackend = attrs.field(eq=False, repr=False)

    @property
    def size(self) -> int:
        return sum(f.record.size for f in self.files)

    def local_path(self, file: StoredFile) -> Path | None:
        """The file on this machine's disk, if the store is a local folder (links need it)."""
        if isinstance(self.backend, LocalPaths):
            return self.backend.target_path(file.key)
        return None

    def chunks(self, file: StoredFile) -> AsyncIterable[bytes]:
        """The file's bytes, streamed from wherever the store keeps them."""
        path = self.local_path(file)
        if path is not None:
            return local_chunks(path)
        return self.backend.read_stream(file.key)


async def find_stored(loc: Localizer, ref: ModelRef) -> StoredModelCopy:
    """The store's complete copy of ``ref`` (its own folder, else a public copy).

    Files recorded without a hash (folders rebuilt from a bucket listing) get
    their git sha1 computed here: only small metadata files are recorded so.
    Raises :class:`ObjectNotFoundError` when the store does not hold the model.
    """
    publics = (False, True) if loc.config.bucket_folder else (False,)
    for public in publics:
        prefix = loc.model_prefix(ref.model_id, ref.revision, public=public)
        record = await loc.models.load_model(prefix, ref.model_id, ref.revision)
        if record is None:
            continue
        files = []
        for name, file in sorted(record.files.items(), key=lambda item: item[1].repo_path):
            checked_repo_path(file.repo_path)
            key = f"{prefix}/{name}"
            if blob_name(file) is None:
                data = await loc.backend.read(key)
                file = attrs.evolve(file, sha1=git_blob_sha1(data))
            files.append(StoredFile(key, file))
        return StoredModelCopy(ref, record, tuple(files), loc.backend)
    raise ObjectNotFoundError(
        f"{ref} is not in the store {loc.backend.name}; download it first "
        "(hgloc download-model, --full-model for the weights)"
    )
