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
from hgloc.layout import METADATA_FILE, ModelRecord, safe_name

__all__ = ["CachedModel", "ModelStore", "StoredModel"]

logger = logging.getLogger("hgloc")


@attrs.frozen
class CachedModel:
    """A model the store holds completely, as users see it.

    ``as_dict()`` gives the documented shape of ``list_local_models()``.
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

    @classmethod
    def from_record(cls, record: ModelRecord, path: str) -> CachedModel:
        """The view of a folder's metadata, the folder being at ``path``."""
        return cls(
            model_id=record.model_id,
            revision=record.revision,
            commit=record.commit,
            path=path,
            has_card=record.has_card,
            has_config=record.has_config,
            is_public=record.is_public,
            is_full_model=record.is_full_model,
            cached_timestamp=record.cached_timestamp,
            files=tuple(sorted(record.files)),
        )

    def as_dict(self) -> dict[str, Any]:
        """The documented dict of ``list_local_models()``."""
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "commit": self.commit,
            "has_card": self.has_card,
            "has_config": self.has_config,
            "is_public": self.is_public,
            "is_full_model": self.is_full_model,
            "path": self.path,
            "cached_timestamp": self.cached_timestamp,
        }


@attrs.frozen
class StoredModel:
    """A complete model folder: where it is and what its metadata says."""

    prefix: str
    record: ModelRecord


class ModelStore:
    """Reads and writes model folders in ``backend`` under a root prefix."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend

    async def load(self, prefix: str) -> ModelRecord | None:
        """The metadata of the model folder at ``prefix``, or ``None`` if incomplete/absent."""
        try:
            raw = await self.backend.read(f"{prefix}/{METADATA_FILE}")
        except ObjectNotFoundError:
            return None
        try:
            return ModelRecord.from_bytes(
                raw, where=self.backend.location(f"{prefix}/{METADATA_FILE}")
            )
        except KeyError:
            return None  # an HG-Localization file without the id: not ours to trust

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
            raise LayoutCollisionError(
                f"{wanted!r} and {held!r} map to the same folder "
                f"{self.backend.location(prefix)}, which holds {held!r}; "
                f"use another store (models_store_path) for {wanted!r}"
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
        self, bucket_folder: str | None, *, public_copies: bool = True
    ) -> list[CachedModel]:
        """The complete models of one bucket setting (see ``Localizer.list_models``).

        ``bucket_folder`` is ``Config.bucket_folder``: ``None`` lists the models
        at the root, else those of ``by_bucket/<folder>`` and (``public_copies``)
        ``public/by_bucket/<folder>``.
        """
        if not bucket_folder:
            roots = [""]
        else:
            roots = [f"by_bucket/{bucket_folder}"]
            if public_copies:
                roots.append(f"public/by_bucket/{bucket_folder}")
        out = []
        for root in roots:
            for stored in await self.list(root):
                # At the root, by_bucket/ and public/ belong to other settings.
                if not root and stored.prefix.startswith(("by_bucket/", "public/")):
                    continue
                location = self.backend.location(stored.prefix)
                out.append(CachedModel.from_record(stored.record, location))
        return out

    async def list(self, root: str = "") -> list[StoredModel]:
        """Every complete model folder under ``root``, ids read from metadata files.

        A folder whose metadata names an id that does not map to it (moved by
        hand, or another tool's lossy names) is skipped with a warning.
        """
        meta_keys = [
            key async for key in self.backend.list_keys(root) if key.endswith("/" + METADATA_FILE)
        ]
        raw = await self.backend.read_many(meta_keys)
        found: list[StoredModel] = []
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
                logger.warning(
                    "skipping %s: its metadata does not record the model id "
                    "(written by an older tool); download the model again to adopt it",
                    self.backend.location(prefix),
                )
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


def _label(model_id: str, revision: str | None) -> str:
    return model_id if revision is None else f"{model_id}@{revision}"
