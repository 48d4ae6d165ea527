"""Model folders inside one backend: save them whole, find them, list them.

A model folder is complete when its metadata file exists: it is written
last, after every other file, and removed first when a folder is replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
import attrs

from hgloc.backends import StorageBackend
from hgloc.errors import IndexCorruptError, LayoutCollisionError, ObjectNotFoundError
from hgloc.layout import (
    CARD_FILE,
    CONFIG_FILE,
    HASHES_LOCAL,
    METADATA_FILE,
    ModelRecord,
    safe_name,
)
from hgloc.store._foreign import ForeignFolders, hg_localization_metadata, is_model_folder

__all__ = ["CachedModel", "ModelStore", "StoredModel", "in_root", "model_roots"]

logger = logging.getLogger("hgloc")


@attrs.frozen
class CachedModel:
    """A model the store holds completely, as users see it.

    ``as_dict()`` gives the documented shape of ``list_local_models()``.
    ``ambiguous``: a folder written by HG-Localization whose name could hold
    several ids, shown under HG-Localization's guess until ``hgloc adopt``.
    """

    model_id: str
    revision: str | None
    commit: str | None
    path: str
    has_card: bool
    has_config: bool
    is_public: bool
    is_full_model: bool
    cached_timestamp: str
    files: tuple[str, ...]
    has_tokenizer: bool = False
    ambiguous: bool = False
    prefix: str = ""  # the folder's key in the store

    @classmethod
    def from_record(cls, record: ModelRecord, path: str, prefix: str = "") -> CachedModel:
        """The view of a folder's metadata, the folder being at ``path`` (key ``prefix``)."""
        return cls(
            model_id=record.model_id,
            revision=record.revision,
            commit=record.commit,
            path=path,
            has_card=record.has_card,
            has_config=record.has_config,
            is_public=record.is_public or prefix.startswith("public/"),
            is_full_model=record.is_full_model,
            cached_timestamp=record.cached_timestamp,
            files=tuple(sorted(record.files)),
            has_tokenizer=record.has_tokenizer,
            ambiguous=record.ambiguous,
            prefix=prefix,
        )

    def as_dict(self) -> dict[str, Any]:
        """The documented dict of ``list_local_models()``: HG-Localization's keys, then hgloc's."""
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "path": self.path,
            "has_card": self.has_card,
            "has_config": self.has_config,
            "has_tokenizer": self.has_tokenizer,
            "is_full_model": self.is_full_model,
            "is_public": self.is_public,
            "commit": self.commit,
            "cached_timestamp": self.cached_timestamp,
            "ambiguous": self.ambiguous,
        }


@attrs.frozen
class StoredModel:
    """A complete model folder: where it is and what its metadata says."""

    prefix: str
    record: ModelRecord


class ModelStore:
    """Reads and writes model folders in ``backend`` under a root prefix."""

    def __init__(
        self, backend: StorageBackend, *, default_revision_name: str = "default_revision"
    ) -> None:
        self.backend = backend
        self.foreign = ForeignFolders(backend, default_revision_name)

    async def load(self, prefix: str) -> ModelRecord | None:
        """The metadata of the model folder at ``prefix``, or ``None`` if incomplete/absent.

        A folder written by HG-Localization is read too (see ``_foreign``).
        """
        try:
            raw: bytes | None = await self.backend.read(f"{prefix}/{METADATA_FILE}")
        except ObjectNotFoundError:
            raw = None
        if raw is not None:
            try:
                return ModelRecord.from_bytes(
                    raw, where=self.backend.location(f"{prefix}/{METADATA_FILE}")
                )
            except KeyError:
                pass  # no model id: HG-Localization's file, or damaged
        if raw is None and not prefix.startswith("public/"):
            return None  # hgloc's folders are complete only with their metadata
        names = [
            key[len(prefix) + 1 :]
            async for key in self.backend.list_keys(prefix)
            if "/" not in key[len(prefix) + 1 :]
        ]
        return await self._foreign(prefix, names, raw)

    async def _foreign(
        self, prefix: str, names: list[str], raw: bytes | None
    ) -> ModelRecord | None:
        """An HG-Localization folder's record: with its metadata file, or a public copy without."""
        if raw is None:
            # HG-Localization caches public copies of the card and config alone; anything
            # else without metadata is a folder being written.
            if not prefix.startswith("public/") or not set(names) <= {CARD_FILE, CONFIG_FILE}:
                return None
            return await self.foreign.record(prefix, names, None)
        metadata = hg_localization_metadata(raw)
        if metadata is None:
            return None
        return await self.foreign.record(prefix, names, metadata)

    async def load_model(
        self, prefix: str, model_id: str, revision: str | None
    ) -> ModelRecord | None:
        """:meth:`load`, refusing a folder that holds another model than the one asked for.

        Folder names are lossy (``a_b/c`` and ``a/b_c``, ``refs/pr/1`` and
        ``refs_pr_1``): the metadata says which model the folder holds, and
        another one is never served from it.
        """
        record = await self.load(prefix)
        if record is not None and (record.model_id, record.revision) != (model_id, revision):
            wanted, held = _label(model_id, revision), _label(record.model_id, record.revision)
            where = self.backend.location(prefix)
            if record.hashes_source == HASHES_LOCAL:
                # Written by HG-Localization: its id was read from the lossy folder name.
                adopt = f"hgloc adopt {where} {model_id}"
                adopt += f" --revision {revision}" if revision else ""
                raise LayoutCollisionError(
                    f"{where} was written by HG-Localization and is taken to hold {held!r}; "
                    f"if it holds {wanted!r}, run `{adopt}`"
                )
            raise LayoutCollisionError(
                f"{wanted!r} and {held!r} map to the same folder {where}, which holds "
                f"{held!r}; use another store (models_store_path) for {wanted!r}"
            )
        return record

    async def save(
        self,
        prefix: str,
        files: Mapping[str, bytes],
        record: ModelRecord,
        *,
        replacing: bool = True,
    ) -> None:
        """Write a whole folder; the metadata goes last so the folder is never half-cached.

        ``replacing=False`` says the caller just found no metadata there, which
        saves removing it first. If any write fails, the files this call wrote
        are removed again and the folder is left without metadata (not
        reported as cached).
        """
        meta_key = f"{prefix}/{METADATA_FILE}"
        if replacing:
            # An older version of this folder stops counting as cached before it changes.
            await self.backend.delete(meta_key)
        items = {f"{prefix}/{name}": data for name, data in files.items()}
        try:
            # write_many makes objects visible in order: the metadata comes last.
            await self.backend.write_many({**items, meta_key: record.to_bytes()})
        except BaseException:
            with anyio.CancelScope(shield=True):
                for key in [*items, meta_key]:
                    try:
                        await self.backend.delete(key)
                    except Exception:  # cleanup must not hide the real error
                        logger.warning("could not remove %s after a failed save", key)
            raise

    async def delete(self, prefix: str, names: list[str]) -> None:
        """Remove a folder: metadata first, so it stops counting as cached at once."""
        await self.backend.delete(f"{prefix}/{METADATA_FILE}")
        for name in names:
            await self.backend.delete(f"{prefix}/{name}")

    async def cached_models(
        self,
        bucket_folder: str | None,
        *,
        public_copies: bool = True,
        public_only: bool = False,
    ) -> list[CachedModel]:
        """The complete models of one bucket setting (see ``Localizer.list_models``).

        ``bucket_folder`` is ``Config.bucket_folder``. Without one: the models at
        the root and under ``public/`` (HG-Localization's ``make_public`` without a
        bucket). With one: first those of ``by_bucket/<folder>`` and
        (``public_copies``) ``public/by_bucket/<folder>``, then the models cached
        before a bucket was configured (the two shapes above), so they stay
        visible and can be synced. A model found twice is listed once, from the
        first folder. ``public_only``: the folders under ``public/`` only.
        """
        roots = list(model_roots(bucket_folder, public_copies=public_copies))
        if public_only:
            roots = [r for r in roots if r.startswith("public")]
        out: list[CachedModel] = []
        seen: set[tuple[str, str | None, bool]] = set()
        for root in roots:
            for stored in await self.list(root, nested=False):
                location = self.backend.location(stored.prefix)
                model = CachedModel.from_record(stored.record, location, stored.prefix)
                key = (model.model_id, model.revision, model.is_public)
                if key not in seen:
                    seen.add(key)
                    out.append(model)
        return out

    async def list(self, root: str = "", *, nested: bool = True) -> list[StoredModel]:
        """Every complete model folder under ``root``, ids read from metadata files.

        A folder whose metadata names an id that does not map to it (moved by
        hand, or another tool's lossy names) is skipped with a warning.
        """
        children: dict[str, list[str]] = {}
        async for key in self.backend.list_keys(root):
            parent, _, name = key.rpartition("/")
            children.setdefault(parent, []).append(name)
        if not nested:  # the folders of other bucket settings below the root are left out
            children = {p: n for p, n in children.items() if in_root(p, root)}
        meta_keys = [f"{p}/{METADATA_FILE}" for p, n in children.items() if METADATA_FILE in n]
        raw = await self.backend.read_many(meta_keys)
        found: list[StoredModel] = []
        for prefix, names in children.items():
            # HG-Localization's public copies of a card and config, without a metadata file.
            if METADATA_FILE not in names and is_model_folder(prefix):
                foreign = await self._foreign(prefix, names, None)
                if foreign is not None:
                    found.append(StoredModel(prefix, foreign))
        for key in meta_keys:
            prefix = key[: -len(METADATA_FILE) - 1]
            if prefix.count("/") < 1:
                logger.warning("skipping %s: not a model folder", self.backend.location(key))
                continue
            if key not in raw:
                continue  # removed while we listed
            try:
                record = ModelRecord.from_bytes(raw[key], where=key)
            except IndexCorruptError as exc:
                logger.warning("skipping %s: %s", self.backend.location(prefix), exc)
                continue
            except KeyError:
                # HG-Localization's metadata: the id comes from the folder name.
                foreign = await self._foreign(prefix, children[prefix], raw[key])
                if foreign is None:
                    logger.debug("skipping %s: no card or config", self.backend.location(prefix))
                else:
                    found.append(StoredModel(prefix, foreign))
                continue
            if safe_name(record.model_id) != prefix.split("/")[-2]:
                logger.warning(
                    "skipping %s: it holds %r, which belongs in another folder "
                    "(moved by hand or by another tool)",
                    prefix,
                    record.model_id,
                )
                continue
            found.append(StoredModel(prefix, record))
        found.sort(key=lambda m: m.prefix)
        return found


def model_roots(bucket_folder: str | None, *, public_copies: bool = True) -> tuple[str, ...]:
    """The roots whose models one bucket setting sees, its own first (see ``cached_models``)."""
    if not bucket_folder:
        return ("", "public")
    own = [f"by_bucket/{bucket_folder}"]
    if public_copies:
        own.append(f"public/by_bucket/{bucket_folder}")
    return (*own, "", "public")


def in_root(prefix: str, root: str) -> bool:
    """Whether a folder found by listing ``root`` belongs to it (not to a nested setting)."""
    rest = prefix[len(root) + 1 :] if root else prefix
    return not rest.startswith(("by_bucket/", "public/"))


def _label(model_id: str, revision: str | None) -> str:
    return model_id if revision is None else f"{model_id}@{revision}"
