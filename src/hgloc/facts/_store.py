"""The one adapter between the facts package and the localizer's store.

Every use of the localizer (its backend, its folder layout, its bucket
setting) is here, so a change of the core is fixed in this module only. The
facts modules below :mod:`hgloc.facts.api` see the localizer through
:class:`FactsStore`, a protocol, so the core can call them (the store-time
hook) without an import cycle.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio.to_thread

from hgloc.backends import LocalPaths, StorageBackend
from hgloc.errors import IndexCorruptError, ObjectNotFoundError
from hgloc.layout import METADATA_FILE, ModelRecord, safe_name

if TYPE_CHECKING:
    from hgloc.config import Config
    from hgloc.sources import HuggingFaceSource

__all__ = [
    "INDEX_FILE_NAME",
    "SAFETENSORS_FILE",
    "FactsStore",
    "folder_stamp",
    "folder_stamps",
    "index_file",
    "location",
    "model_prefixes",
    "read",
    "read_range",
    "read_records",
    "scopes",
    "store_name",
    "write",
]

# The facts index, beside the models of a folder store (see :func:`index_file`).
INDEX_FILE_NAME = ".hgloc-facts.sqlite"
# Safetensors header counts fetched from the Hub for a metadata-only model, kept in its folder.
SAFETENSORS_FILE = ".hgloc-safetensors.json"
_META_SUFFIX = "/" + METADATA_FILE


class FactsStore(Protocol):
    """What the facts need of a :class:`~hgloc.Localizer` (which satisfies it)."""

    config: Config
    backend: StorageBackend

    @property
    def source(self) -> HuggingFaceSource: ...

    def model_prefix(
        self, model_id: str, revision: str | None = None, *, public: bool = False
    ) -> str: ...


def scopes(loc: FactsStore) -> list[str]:
    """The store roots the localizer's bucket setting lists models from, own copies first."""
    folder = loc.config.bucket_folder
    if not folder:
        return [""]
    return [f"by_bucket/{folder}", f"public/by_bucket/{folder}"]


def index_file(loc: FactsStore, name: str) -> Path | None:
    """Where the facts index lives: beside the models in a folder store; ``None`` elsewhere."""
    backend = loc.backend
    if isinstance(backend, LocalPaths):
        backend.root.mkdir(parents=True, exist_ok=True)
        return backend.root / name
    return None


def location(loc: FactsStore, prefix: str) -> str:
    return loc.backend.location(prefix)


def store_name(loc: FactsStore) -> str:
    """The store for messages (``local:/path``, ``s3://bucket/prefix``)."""
    return loc.backend.name


def model_prefixes(loc: FactsStore, model_id: str, revision: str | None) -> list[str]:
    """The folders that may hold a model, in the order the localizer reads them."""
    own = loc.model_prefix(model_id, revision)
    if not loc.config.bucket_folder:
        return [own]
    return [own, loc.model_prefix(model_id, revision, public=True)]


def _in_scope(prefix: str, scope: str) -> bool:
    # as the listing: at least <id>/<revision> below the scope; the root's scope
    # leaves out the folders of the bucket settings
    if prefix.count("/") - scope.count("/") - (1 if scope else 0) < 1:
        return False
    return bool(scope) or not prefix.startswith(("by_bucket/", "public/"))


def _local_stamps(root: str, scope: str) -> dict[str, str]:
    """Stamps of the metadata files at ``<scope>/<id>/<revision>/``: two levels of folders
    walked, one stat per model, in the calling thread (no hop per folder)."""
    out: dict[str, str] = {}
    base = f"{root}/{scope}" if scope else root
    try:
        ids = [e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return out
    for name in ids:
        try:
            revisions = [e.name for e in os.scandir(f"{base}/{name}") if e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for rev in revisions:
            stamp = _stamp(f"{base}/{name}/{rev}/{METADATA_FILE}")
            if stamp is not None:
                out[f"{scope}/{name}/{rev}" if scope else f"{name}/{rev}"] = stamp
    return out


def _stamp(path: str) -> str | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


async def folder_stamp(loc: FactsStore, prefix: str) -> str | None:
    """The stamp :func:`folder_stamps` gives one folder of a folder store; ``None`` elsewhere."""
    backend = loc.backend
    if not isinstance(backend, LocalPaths):
        return None
    return await anyio.to_thread.run_sync(_stamp, f"{backend.root}/{prefix}{_META_SUFFIX}")


async def folder_stamps(loc: FactsStore, scope: str) -> dict[str, str]:
    """``{prefix: stamp}`` of every model folder of ``scope`` that has a metadata file.

    The stamp (size and modification time of the metadata file) changes when
    the folder is written again. On a folder store only the model folders are
    walked and the metadata files stat-ed, all in one worker thread.
    """
    backend = loc.backend
    if isinstance(backend, LocalPaths):
        root = backend.root
        found = await anyio.to_thread.run_sync(_local_stamps, str(root), scope)
    else:
        found = {}
        async for info in backend.list(scope):
            if info.key.endswith(_META_SUFFIX):
                modified = info.modified.timestamp() if info.modified else None
                found[info.key[: -len(_META_SUFFIX)]] = f"{info.size}:{modified}"
    return {p: s for p, s in found.items() if _in_scope(p, scope)}


async def read_records(loc: FactsStore, prefixes: Iterable[str]) -> dict[str, ModelRecord]:
    """The metadata of each folder; damaged ones, or ones whose id is not the folder's, left out."""
    keys = {f"{p}{_META_SUFFIX}": p for p in prefixes}
    raw = await loc.backend.read_many(keys)
    out = {}
    for key, data in raw.items():
        prefix = keys[key]
        try:
            record = ModelRecord.from_bytes(data, where=loc.backend.location(key))
        except (IndexCorruptError, KeyError):
            continue  # the listing warns about these; facts just leave them out
        if safe_name(record.model_id) == prefix.split("/")[-2]:
            out[prefix] = record
    return out


async def read(loc: FactsStore, key: str) -> bytes | None:
    """A stored file, or ``None`` when it is missing."""
    try:
        return await loc.backend.read(key)
    except ObjectNotFoundError:
        return None


async def read_range(loc: FactsStore, key: str, start: int, end: int) -> bytes:
    """Bytes ``start`` to ``end`` (exclusive) of a stored file, without reading the rest."""
    chunks = [c async for c in loc.backend.read_stream(key, start=start, end=end)]
    return b"".join(chunks)


async def write(loc: FactsStore, key: str, data: bytes) -> None:
    await loc.backend.write(key, data)
