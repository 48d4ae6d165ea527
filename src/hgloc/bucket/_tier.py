"""The team bucket: the second tier between the local store and the Hub.

Layout (HG-Localization's, so buckets stay readable by either tool)::

    {p}/models/{safe id}/{safe rev}/{file}       model folders, metadata file last
    {p}/private_models_index.json                 every uploaded model
    {p}/public_models.json                        public models (public-read)

Both JSON files are updated with conditional writes, so concurrent writers
lose no entry; a file that does not parse is never overwritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from hgloc.backends._json_updates import parse_json_object
from hgloc.bucket._conditions import require_conditions
from hgloc.bucket._lease import fence
from hgloc.errors import (
    HglocError,
    IndexCorruptError,
    IntegrityError,
    ObjectNotFoundError,
    StorePermissionError,
)
from hgloc.layout import (
    CARD_FILE,
    CONFIG_FILE,
    METADATA_FILE,
    FileRecord,
    ModelRecord,
    bucket_model_prefix,
    validate_model_id,
    validate_revision,
)
from hgloc.sources._hub_protocol import is_commit

if TYPE_CHECKING:
    from hgloc.backends import BucketStore
    from hgloc.config import Config

__all__ = ["BucketEntry", "BucketTier", "checked_stream", "index_key", "load_at_commit"]

logger = logging.getLogger("hgloc")

_INDEX_BATCH = 256  # entries a deferred index writes at once, so a crash loses few
# An entry is ~400 bytes: 64 MiB lists ~150,000 models, and parsing it takes ~10x its
# size in memory. A bigger index is damaged or hostile: it is refused, not read whole.
MAX_INDEX_BYTES = 64 << 20
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model")


def index_key(model_id: str, revision: str | None, default_revision_name: str) -> str:
    """The key of a model in both JSON indexes: ``"{model_id}---{revision}"``."""
    return f"{model_id}---{revision or default_revision_name}"


@attrs.frozen
class BucketEntry:
    """One model the bucket holds, as its indexes describe it."""

    model_id: str
    revision: str | None
    s3_prefix: str
    is_public: bool
    has_card: bool = True
    has_config: bool = True
    is_full_model: bool = False
    last_updated: str | None = None
    commit: str | None = None  # the commit the folder holds, when the private index says

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class BucketTier:
    """Uploads model folders to the bucket, reads them back, keeps the indexes.

    The folder keys in the bucket are relative to the data prefix, which the
    store carries. Any :class:`~hgloc.backends.BucketStore` serves: an
    :class:`~hgloc.backends.S3Backend`, or a :class:`~hgloc.backends.MemoryBackend`
    in tests.
    """

    def __init__(self, config: Config, backend: BucketStore) -> None:
        self.config = config
        self.backend = backend
        self._pending: dict[str, tuple[dict[str, Any], bool]] = {}
        self._index_lock = anyio.Lock()
        self._deferred = 0

    # -- names ---------------------------------------------------------------

    def folder(self, model_id: str, revision: str | None) -> str:
        """A model's folder in the bucket, relative to the data prefix."""
        return bucket_model_prefix(
            model_id, revision, default_revision_name=self.config.default_revision_name
        )

    def full_prefix(self, folder: str) -> str:
        """``folder`` with the data prefix: what the indexes record as ``s3_prefix``."""
        return "/".join(p for p in (self.config.s3_data_prefix, folder) if p)

    # -- writing -------------------------------------------------------------

    async def upload(
        self,
        record: ModelRecord,
        *,
        read_local: Callable[[str], AsyncIterator[bytes]],
        make_public: bool = False,
        check_existing: bool = True,
    ) -> bool:
        """Put a model folder in the bucket and record it in the indexes.

        ``read_local(name)`` streams each file of ``record`` from the local
        store (big files go up as multipart). Objects already there with the
        same size and hash are skipped (``check_existing=False`` skips that
        check, for a model just fetched from the Hub: a put costs what a
        check does). The metadata file goes last, then the indexes. Returns
        whether any object was written.
        """
        folder = self.folder(record.model_id, record.revision)
        wrote = False
        for name, file in sorted(record.files.items()):
            key = f"{folder}/{name}"
            public = make_public and name in (CARD_FILE, CONFIG_FILE)
            # A public object is put again: that is how it gets its public-read ACL.
            if (
                check_existing
                and not public
                and await self._same_object(key, file.size, _digest(file))
            ):
                continue
            meta = {"sha256": file.sha256} if file.sha256 else {"git-sha1": file.sha1 or ""}
            await self.backend.put_stream(key, read_local(name), public=public, metadata=meta)
            wrote = True
        shared = attrs.evolve(
            record,
            is_public=make_public or record.is_public,
            s3_bucket_name=self.config.s3_bucket_name,
            s3_endpoint_url=self.config.s3_endpoint_url,
            s3_data_prefix=self.config.s3_data_prefix,
        )
        meta_key = f"{folder}/{METADATA_FILE}"
        if wrote or not await self._exists(meta_key):
            await fence()  # under a lease (serve, sync-all): still ours, or publish nothing
            await self.backend.put(meta_key, shared.to_bytes(), content_type="application/json")
            wrote = True
        await self.record([shared], make_public=make_public)
        return wrote

    async def record(self, records: Iterable[ModelRecord], *, make_public: bool = False) -> None:
        """Add models to the private index (and the public manifest).

        Concurrent callers are coalesced: whoever holds the lock writes every
        entry waiting at that moment, so a bulk run costs a few index updates,
        not one per model. Inside :meth:`deferred_index` entries wait for the
        end of the block (or a full batch). Otherwise this returns once this
        call's entries are written.
        """
        now = dt.datetime.now(dt.UTC).isoformat()
        default = self.config.default_revision_name
        mine = {
            index_key(r.model_id, r.revision, default): (self._private_entry(r, now), make_public)
            for r in records
        }
        if not mine:
            return
        self._pending.update(mine)
        if self._deferred and len(self._pending) < _INDEX_BATCH:
            return
        await self._flush(mine)

    @contextlib.asynccontextmanager
    async def deferred_index(self) -> AsyncIterator[None]:
        """Write index entries once at the end of the block (a bulk run), not per model.

        The model folders are in the bucket as soon as they are uploaded; only
        the listing waits. The entries are written even if the block fails.
        """
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
            if not self._deferred and self._pending:
                with anyio.CancelScope(shield=True):
                    await self._flush(None)

    def unindexed(self) -> set[tuple[str, str | None]]:
        """Models uploaded whose index entries are not written yet (after a failed flush)."""
        return {(entry["model_id"], entry["revision"]) for entry, _ in self._pending.values()}

    async def _flush(self, mine: Mapping[str, Any] | None) -> None:
        async with self._index_lock:
            if mine is not None and not any(key in self._pending for key in mine):
                return  # another caller already wrote them
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            try:
                await require_conditions(self.backend, "updating the bucket's index")
                private = {key: entry for key, (entry, _) in batch.items()}
                public = {
                    key: self._public_entry(entry)
                    for key, (entry, is_public) in batch.items()
                    if is_public
                }
                await self._check_index_size(self.config.private_models_index_key)
                await self.backend.update_json(
                    self.config.private_models_index_key, lambda index: {**index, **private}
                )
                if public:
                    await self._check_index_size(self.config.public_models_json_key)
                    await self.backend.update_json(
                        self.config.public_models_json_key,
                        lambda index: {**index, **public},
                        public=True,
                    )
            except BaseException:
                for key, value in batch.items():  # let a later caller try them again
                    self._pending.setdefault(key, value)
                raise

    def _private_entry(self, r: ModelRecord, now: str) -> dict[str, Any]:
        return {
            "model_id": r.model_id,
            "revision": r.revision,
            "s3_prefix": self.full_prefix(self.folder(r.model_id, r.revision)),
            "s3_bucket": self.config.s3_bucket_name,
            "has_card": r.has_card,
            "has_config": r.has_config,
            "has_tokenizer": any(name in r.files for name in _TOKENIZER_FILES),
            "is_full_model": r.is_full_model,
            "last_updated": now,
            "commit": r.commit,
        }

    def _public_entry(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        folder = self.folder(entry["model_id"], entry["revision"])
        return {
            "model_id": entry["model_id"],
            "revision": entry["revision"],
            "s3_bucket": self.config.s3_bucket_name,
            "model_card_url": self.backend.public_url(f"{folder}/{CARD_FILE}")
            if entry["has_card"]
            else None,
            "model_config_url": self.backend.public_url(f"{folder}/{CONFIG_FILE}")
            if entry["has_config"]
            else None,
            "s3_prefix": entry["s3_prefix"],
        }

    async def _same_object(self, key: str, size: int, digest: str) -> bool:
        try:
            head = await self.backend.head(key)
        except ObjectNotFoundError:
            return False
        stored = head.metadata.get("sha256") or head.metadata.get("git-sha1")
        return head.size == size and stored == digest

    async def _exists(self, key: str) -> bool:
        try:
            await self.backend.head(key)
        except ObjectNotFoundError:
            return False
        return True

    # -- reading -------------------------------------------------------------

    async def load(self, model_id: str, revision: str | None) -> ModelRecord | None:
        """The bucket's record of a model, or ``None`` if the bucket lacks it.

        A folder written by HG-Localization has no ids or hashes in its
        metadata; the private index then vouches for the id.
        """
        folder = self.folder(model_id, revision)
        try:
            raw = await self.backend.read(f"{folder}/{METADATA_FILE}")
        except ObjectNotFoundError:
            return None
        where = self.backend.location(f"{folder}/{METADATA_FILE}")
        try:
            record = ModelRecord.from_bytes(raw, where=where)
        except KeyError:
            return await self._legacy_record(model_id, revision, folder)
        if (record.model_id, record.revision) != (model_id, revision):
            # Folder names are lossy ('a_b/c' and 'a/b_c', 'refs/pr/1' and 'refs_pr_1').
            held = f"{record.model_id}@{record.revision or self.config.default_revision_name}"
            wanted = f"{model_id}@{revision or self.config.default_revision_name}"
            raise IndexCorruptError(
                f"{where} holds {held!r}, not {wanted!r}: two models share that "
                "folder in the bucket; repair or delete it"
            )
        return record

    async def _legacy_record(
        self, model_id: str, revision: str | None, folder: str
    ) -> ModelRecord | None:
        entries = await self.entries()
        entry = next(
            (e for e in entries if e.model_id == model_id and e.revision == revision), None
        )
        if entry is None:
            logger.warning(
                "%s has no model id in its metadata and no index entry: skipping it",
                self.backend.location(folder),
            )
            return None
        files: dict[str, FileRecord] = {}
        for name in (CARD_FILE, CONFIG_FILE):
            try:
                info = await self.backend.stat(f"{folder}/{name}")
            except ObjectNotFoundError:
                continue
            repo_path = "README.md" if name == CARD_FILE else name
            files[name] = FileRecord(repo_path, info.size)  # no hash recorded: checked by size
        return ModelRecord(
            model_id=model_id,
            revision=revision,
            commit=None,
            files=files,
            is_public=entry.is_public,
            s3_bucket_name=self.config.s3_bucket_name,
            s3_endpoint_url=self.config.s3_endpoint_url,
            s3_data_prefix=self.config.s3_data_prefix,
        )

    async def entries(self) -> list[BucketEntry]:
        """Every model the bucket's indexes list (private index and public manifest)."""
        private = await self._read_index(self.config.private_models_index_key)
        public = await self._read_index(self.config.public_models_json_key)
        return merge_entries(self, private or {}, public or {})

    async def _read_index(self, key: str) -> dict[str, Any] | None:
        """An index, read as a stream that stops at :data:`MAX_INDEX_BYTES`."""
        data = bytearray()
        try:
            async for chunk in self.backend.read_stream(key):
                data += chunk
                if len(data) > MAX_INDEX_BYTES:
                    raise _index_too_big(self.backend.location(key))
        except ObjectNotFoundError:
            return None
        return parse_json_object(self.backend.location(key), bytes(data))

    async def _check_index_size(self, key: str) -> None:
        """Refuse to update an index too big to read (before it is read whole)."""
        try:
            info = await self.backend.stat(key)
        except ObjectNotFoundError:
            return
        if info.size > MAX_INDEX_BYTES:
            raise _index_too_big(self.backend.location(key))


def _index_too_big(where: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"{where} is larger than {MAX_INDEX_BYTES >> 20} MiB, far more than an index of "
        "real models; it was not read (damaged or hostile): repair or delete it"
    )


def _digest(file: FileRecord) -> str:
    return file.sha256 or file.sha1 or ""


async def checked_stream(
    chunks: AsyncIterator[bytes], record: FileRecord, where: str
) -> AsyncIterator[bytes]:
    """Pass ``chunks`` through, raising ``IntegrityError`` at the end on a size or hash mismatch.

    Raising from inside the stream makes the store's atomic streaming write
    discard what it received: a wrong file never becomes visible.
    """
    import hashlib

    sha256 = hashlib.sha256() if record.sha256 else None
    sha1 = hashlib.sha1(b"blob %d\0" % record.size, usedforsecurity=False) if record.sha1 else None
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > record.size:
            raise IntegrityError(f"{where}: larger than the {record.size} bytes recorded")
        for h in (sha256, sha1):
            if h is not None:
                h.update(chunk)
        yield chunk
    if size != record.size:
        raise IntegrityError(f"{where}: expected {record.size} bytes, found {size}")
    if sha256 is not None and sha256.hexdigest() != record.sha256:
        raise IntegrityError(f"{where}: sha256 does not match the metadata")
    if sha1 is not None and sha1.hexdigest() != record.sha1:
        raise IntegrityError(f"{where}: git sha1 does not match the metadata")


def merge_entries(
    tier: BucketTier, private: Mapping[str, Any], public: Mapping[str, Any]
) -> list[BucketEntry]:
    """Index entries as :class:`BucketEntry` values, refusing ones that point elsewhere."""
    out: dict[tuple[str, str | None], BucketEntry] = {}
    for is_public, index, name in (
        (False, private, tier.config.private_models_index_key),
        (True, public, tier.config.public_models_json_key),
    ):
        for key, raw in index.items():
            try:
                entry = parse_entry(tier, raw, is_public)
            except (HglocError, KeyError, TypeError, ValueError) as exc:
                logger.warning("skipping entry %r of %s: %s", key, name, exc)
                continue
            ref = (entry.model_id, entry.revision)
            if ref in out and not is_public:
                continue
            if ref in out:
                entry = attrs.evolve(out[ref], is_public=True)
            out[ref] = entry
    return sorted(out.values(), key=lambda e: (e.model_id, e.revision or ""))


async def load_at_commit(tier: BucketTier, model_id: str, commit: str) -> ModelRecord | None:
    """The bucket's record of a branch or tag of ``model_id`` stored at ``commit``, if any.

    The private index records each folder's commit; a full copy is preferred.
    The record still names its own revision (see :meth:`BucketTier.folder`).
    """
    held = [e for e in await tier.entries() if e.model_id == model_id and e.commit == commit]
    for entry in sorted(held, key=lambda e: not e.is_full_model):
        record = await tier.load(model_id, entry.revision)
        if record is not None and record.commit == commit:
            return record
    return None


def parse_entry(tier: BucketTier, raw: Any, is_public: bool) -> BucketEntry:
    """One index entry, validated: its id, revision and folder must agree."""
    if not isinstance(raw, dict):
        raise TypeError("entry is not a JSON object")
    model_id = validate_model_id(str(raw["model_id"]))
    revision = validate_revision(raw.get("revision"))
    if revision == tier.config.default_revision_name:
        revision = None
    expected = tier.full_prefix(tier.folder(model_id, revision))
    given = raw.get("s3_prefix", expected)
    if not isinstance(given, str) or given.strip("/") != expected:
        raise StorePermissionError(
            f"s3_prefix {raw.get('s3_prefix')!r} is not the folder of {model_id!r} "
            f"({expected!r}); repair the index"
        )
    return BucketEntry(
        model_id=model_id,
        revision=revision,
        s3_prefix=expected,
        is_public=is_public,
        has_card=bool(raw.get("has_card", raw.get("model_card_url") is not None)),
        has_config=bool(raw.get("has_config", raw.get("model_config_url") is not None)),
        is_full_model=bool(raw.get("is_full_model", False)),
        last_updated=raw.get("last_updated"),
        commit=raw["commit"] if is_commit(raw.get("commit")) else None,
    )
