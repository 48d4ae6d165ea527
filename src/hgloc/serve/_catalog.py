"""What the store holds, named as the Hub names it: repo id + revision -> a model folder.

A model cached at the default branch (revision ``None``) answers for ``main``
and for its recorded commit; one cached at ``v1.0`` answers for ``v1.0`` and
its commit. Files are named by their repo path (``README.md``, not
``model_card.md``), and each carries the hashes the Hub would send.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs

from hgloc.backends import StorageBackend
from hgloc.errors import HglocError, ObjectNotFoundError
from hgloc.hub_wire import DEFAULT_BRANCH, WireFile, git_blob_sha1
from hgloc.layout import FileRecord, ModelRecord, safe_name
from hgloc.store import ModelStore

if TYPE_CHECKING:
    from hgloc.bucket import BucketTier
    from hgloc.localize import Localizer

__all__ = [
    "DEFAULT_BRANCH",
    "BucketLayout",
    "Catalog",
    "LocalLayout",
    "ServedFile",
    "Snapshot",
    "StoreLayout",
    "is_commit",
]

logger = logging.getLogger("hgloc.serve")

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_CACHE_LIMIT = 4096
_V = TypeVar("_V")


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full 40-hex commit sha."""
    return revision is not None and _HEX40.match(revision) is not None


@attrs.frozen
class ServedFile:
    """One file of a served model: its name in the store folder and its record."""

    name: str
    record: FileRecord
    wire: WireFile = attrs.field(init=False, eq=False, repr=False)
    """How the Hub describes the file (its hashes)."""

    @wire.default
    def _wire(self) -> WireFile:
        rec = self.record
        return WireFile(rec.repo_path, rec.size, None if rec.sha256 else rec.sha1, rec.sha256)

    @property
    def path(self) -> str:
        return self.record.repo_path

    @property
    def size(self) -> int:
        return self.record.size

    @property
    def is_lfs(self) -> bool:
        return self.wire.is_lfs

    @property
    def etag(self) -> str:
        """What the Hub sends as ETag: the sha256 for LFS files, else the git blob sha1."""
        return self.wire.etag


@attrs.frozen
class Snapshot:
    """A complete model folder as the server answers for it."""

    prefix: str
    record: ModelRecord
    commit: str
    files: Mapping[str, ServedFile]  # repo path -> file

    @property
    def model_id(self) -> str:
        return self.record.model_id

    @property
    def revision(self) -> str | None:
        return self.record.revision

    @property
    def is_full_model(self) -> bool:
        return self.record.is_full_model

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files.values())

    def key(self, file: ServedFile) -> str:
        """The store key of ``file``."""
        return f"{self.prefix}/{file.name}"

    @classmethod
    def of(cls, prefix: str, record: ModelRecord) -> Snapshot:
        files = {rec.repo_path: ServedFile(name, rec) for name, rec in record.files.items()}
        return cls(prefix, record, record.commit or _stand_in_commit(record), files)


def _stand_in_commit(record: ModelRecord) -> str:
    """A stable 40-hex id for a folder whose metadata records no commit (older tools).

    huggingface_hub refuses an answer without ``X-Repo-Commit``; this one names
    the folder's content, so it changes when the folder does.
    """
    h = hashlib.sha1(b"hgloc-folder\0", usedforsecurity=False)
    h.update(f"{record.model_id}\0{record.revision or ''}\0".encode())
    for name, rec in sorted(record.files.items()):
        h.update(f"{name}\0{rec.size}\0{rec.sha1 or ''}\0{rec.sha256 or ''}\n".encode())
    return h.hexdigest()


class StoreLayout(Protocol):
    """Where model folders are in one store, and how to read their metadata."""

    @property
    def backend(self) -> StorageBackend: ...

    def folders(self, model_id: str, revision: str | None) -> list[str]:
        """The folders that may hold ``model_id`` cached at ``revision``, first preferred."""
        ...

    def roots(self) -> list[str]:
        """Folders to list for every model this store serves."""
        ...

    def serves(self, prefix: str) -> bool:
        """Whether a folder found by listing a root belongs to what is served."""
        ...

    async def load(self, prefix: str, model_id: str, revision: str | None) -> ModelRecord | None:
        """The metadata of a complete folder holding ``model_id``, else ``None``."""
        ...


class LocalLayout:
    """The localizer's own store: the same folders ``hgloc download`` writes.

    With a bucket configured, that is ``by_bucket/<bucket>/...`` plus the public
    copies under ``public/by_bucket/<bucket>/...``; without, every folder except
    those two trees.
    """

    def __init__(self, localizer: Localizer) -> None:
        self._loc = localizer
        self._store = ModelStore(localizer.backend)
        self._bucket = localizer.config.has_bucket

    @property
    def backend(self) -> StorageBackend:
        return self._loc.backend

    def folders(self, model_id: str, revision: str | None) -> list[str]:
        own = self._loc.model_prefix(model_id, revision)
        return (
            [own, self._loc.model_prefix(model_id, revision, public=True)]
            if self._bucket
            else [own]
        )

    def roots(self) -> list[str]:
        # A folder is "<root>/<safe id>/<safe revision>": the root is what precedes.
        return sorted({_parent(_parent(f)) for f in self.folders("x", None)})

    def serves(self, prefix: str) -> bool:
        return self._bucket or not prefix.startswith(("by_bucket/", "public/"))

    async def load(self, prefix: str, model_id: str, revision: str | None) -> ModelRecord | None:
        record = await self._store.load(prefix)
        if record is not None and record.model_id != model_id:
            logger.warning(
                "%s holds %r, not %r (two ids share one folder)",
                self.backend.location(prefix),
                record.model_id,
                model_id,
            )
            return None
        return record


class BucketLayout:
    """The team bucket (``--s3``): ``{data prefix}/models/<safe id>/<safe revision>/``."""

    def __init__(self, tier: BucketTier) -> None:
        self._tier = tier

    @property
    def backend(self) -> StorageBackend:
        return self._tier.backend

    def folders(self, model_id: str, revision: str | None) -> list[str]:
        return [self._tier.folder(model_id, revision)]

    def roots(self) -> list[str]:
        return [_parent(_parent(self._tier.folder("x", None)))]

    def serves(self, prefix: str) -> bool:
        return True

    async def load(self, prefix: str, model_id: str, revision: str | None) -> ModelRecord | None:
        try:
            # The tier also reads HG-Localization folders, vouched for by the bucket's index.
            return await self._tier.load(model_id, revision)
        except HglocError as exc:
            logger.warning("cannot serve %s: %s", self.backend.location(prefix), exc)
            return None


def _parent(prefix: str) -> str:
    return prefix.rpartition("/")[0]


class Catalog:
    """Finds the folder that answers for a repo id at a revision, and lists them all.

    Lookups are cached for ``cache_seconds`` (a few reads per request would add
    up on S3); another process adding a model is seen after that delay, and
    :meth:`forget` makes the server's own pull-through visible at once.
    """

    def __init__(self, layout: StoreLayout, *, cache_seconds: float = 2.0) -> None:
        self.layout = layout
        self.cache_seconds = cache_seconds
        self._folders: dict[str, tuple[float, Snapshot | None]] = {}
        self._models: dict[str, tuple[float, list[Snapshot]]] = {}
        self._all: tuple[float, list[Snapshot]] | None = None

    @property
    def backend(self) -> StorageBackend:
        return self.layout.backend

    def where(self) -> str:
        """The store, for messages."""
        return self.backend.name

    async def find(self, model_id: str, revision: str) -> Snapshot | None:
        """The folder answering for ``model_id`` at ``revision`` (``main``, a tag, a commit)."""
        wanted: list[str | None] = [None, revision] if revision == DEFAULT_BRANCH else [revision]
        found = [
            snap
            for rev in wanted
            for prefix in self.layout.folders(model_id, rev)
            if (snap := await self._folder(prefix, model_id, rev)) is not None
            and snap.revision == rev
        ]
        if not found and is_commit(revision):
            found = [s for s in await self.revisions(model_id) if s.commit == revision]
        return _best(found)

    async def holds(self, model_id: str) -> bool:
        """Whether any revision of ``model_id`` is served (RevisionNotFound, not RepoNotFound)."""
        return bool(await self.revisions(model_id))

    async def revisions(self, model_id: str) -> list[Snapshot]:
        """Every folder of ``model_id``, whatever its revision."""
        cached = self._models.get(model_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found: list[Snapshot] = []
        parents = dict.fromkeys(_parent(f) for f in self.layout.folders(model_id, None))
        store = ModelStore(self.backend)
        for parent in parents:
            for stored in await store.list(parent):
                if stored.record.model_id == model_id and self.layout.serves(stored.prefix):
                    found.append(await self._complete(Snapshot.of(stored.prefix, stored.record)))
        self._remember(self._models, model_id, found)
        return found

    async def all(self) -> list[Snapshot]:
        """Every served folder, sorted by id then revision (for the listing page)."""
        if self._all is not None and self._all[0] > time.monotonic():
            return self._all[1]
        store = ModelStore(self.backend)
        out = [
            Snapshot.of(stored.prefix, stored.record)
            for root in self.layout.roots()
            for stored in await store.list(root)
            if self.layout.serves(stored.prefix)
        ]
        out.sort(key=lambda s: (s.model_id.lower(), s.revision or "", s.prefix))
        self._all = (time.monotonic() + self.cache_seconds, out)
        return out

    def forget(self, model_id: str) -> None:
        """Drop what is cached about ``model_id`` (after the server stored it)."""
        self._models.pop(model_id, None)
        self._all = None
        name = safe_name(model_id)
        for prefix in [p for p in self._folders if _parent(p).rpartition("/")[2] == name]:
            del self._folders[prefix]

    async def _folder(self, prefix: str, model_id: str, revision: str | None) -> Snapshot | None:
        cached = self._folders.get(prefix)
        if cached is not None and cached[0] > time.monotonic():
            snap = cached[1]
            return snap if snap is None or snap.model_id == model_id else None
        record = await self.layout.load(prefix, model_id, revision)
        snap = None if record is None else await self._complete(Snapshot.of(prefix, record))
        self._remember(self._folders, prefix, snap)
        return snap

    async def _complete(self, snap: Snapshot) -> Snapshot:
        """Fill in hashes that older tools did not record, from the stored bytes."""
        missing = [f for f in snap.files.values() if not f.record.sha1 and not f.record.sha256]
        if not missing:
            return snap
        files = dict(snap.files)
        for file in missing:
            try:
                data = await self.backend.read(snap.key(file))
            except ObjectNotFoundError:
                logger.warning(
                    "%s is missing from its folder", self.backend.location(snap.key(file))
                )
                del files[file.path]
                continue
            record = attrs.evolve(file.record, size=len(data), sha1=git_blob_sha1(data))
            files[file.path] = ServedFile(file.name, record)
        return attrs.evolve(snap, files=files)

    def _remember(self, cache: dict[str, tuple[float, _V]], key: str, value: _V) -> None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()  # crude, but bounded: entries are cheap to rebuild
        cache[key] = (time.monotonic() + self.cache_seconds, value)


def _best(found: Iterable[Snapshot]) -> Snapshot | None:
    # Two folders may answer (cached as "main" and as the default branch, or at a
    # commit twice): the full model wins, then the most recently cached.
    return max(found, key=lambda s: (s.is_full_model, s.record.cached_timestamp), default=None)
