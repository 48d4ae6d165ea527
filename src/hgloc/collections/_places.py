"""Where collections are kept: one JSON object per collection, updated without lost writes.

Three places, one small interface (read one, list, update one):

- :class:`StoreShelf`: the local store, ``<root>/.hgloc-collections/<owner>--<name>.json``
  (``<root>`` is ``by_bucket/<bucket>`` when a bucket is configured). Updates
  take a lock across processes (``flock`` on the folder) and write atomically;
  a store with conditional JSON writes (memory) uses those instead.
- :class:`BucketShelf`: the team bucket, ``{prefix}/collections/<file>.json``
  beside the indexes, updated with conditional writes (``If-Match``); public
  collections are also copied into ``{prefix}/public_collections.json``
  (``public-read``), the manifest members without credentials read.
- :class:`PublicShelf`: that manifest, read through anonymous GETs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import anyio
import attrs

from hgloc.backends import ConditionalJson, StorageBackend
from hgloc.backends._json_updates import encode_json, parse_json_object
from hgloc.bucket import BucketTier, PublicReader
from hgloc.collections._model import Collection, collection_file_name, validate_slug
from hgloc.errors import IndexCorruptError, ObjectNotFoundError
from hgloc.layout import COLLECTIONS_FOLDER
from hgloc.store import model_folder_lock

__all__ = [
    "BUCKET_FOLDER",
    "PUBLIC_MANIFEST",
    "BucketShelf",
    "Mutate",
    "PublicShelf",
    "Shelf",
    "StoreShelf",
    "parse_collection",
]

logger = logging.getLogger("hgloc")

BUCKET_FOLDER = "collections"
PUBLIC_MANIFEST = "public_collections.json"

Mutate = Callable[[Collection | None], Collection]
"""The new collection given the stored one (``None``: none yet); may run more than once."""


def parse_collection(data: Any, where: str) -> Collection:
    """A stored collection, or :class:`~hgloc.errors.IndexCorruptError` naming ``where``."""
    try:
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        return Collection.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(
            f"collection {where} is damaged ({exc}); repair or delete it"
        ) from exc


def _newer(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Of two stored forms of one collection, the later (a higher generation)."""
    if a is None:
        return b
    return b if int(b.get("generation", 0)) >= int(a.get("generation", 0)) else a


def _bump(collection: Collection, stored: Collection | None) -> Collection:
    return attrs.evolve(collection, generation=(stored.generation if stored else 0) + 1)


class Shelf(Protocol):
    """A place that keeps collections."""

    @property
    def where(self) -> str:
        """Where it is, for messages."""
        ...

    async def get(self, slug: str) -> Collection | None:
        """The collection, ``None`` if this place does not hold it."""
        ...

    async def all(self) -> list[Collection]:
        """Every collection held here, sorted by slug."""
        ...


class StoreShelf:
    """Collections in a store (the local folder, or any backend)."""

    def __init__(self, backend: StorageBackend, root: str = "") -> None:
        self.backend = backend
        self.folder = "/".join(p for p in (root, COLLECTIONS_FOLDER) if p)
        self._lock = anyio.Lock()

    @property
    def where(self) -> str:
        return self.backend.location(self.folder)

    def _key(self, slug: str) -> str:
        return f"{self.folder}/{collection_file_name(slug)}"

    async def get(self, slug: str) -> Collection | None:
        key = self._key(slug)
        try:
            raw = await self.backend.read(key)
        except ObjectNotFoundError:
            return None
        return _checked(
            parse_collection(parse_json_object(self.backend.location(key), raw), key), slug
        )

    async def all(self) -> list[Collection]:
        keys = [
            k
            async for k in self.backend.list_keys(self.folder)
            if k.endswith(".json") and k.count("/") == self.folder.count("/") + 1
        ]
        found = []
        for key, raw in sorted((await self.backend.read_many(keys)).items()):
            try:
                found.append(parse_collection(parse_json_object(key, raw), key))
            except IndexCorruptError as exc:
                logger.warning("skipping %s: %s", self.backend.location(key), exc)
        return sorted(found, key=lambda c: c.slug)

    async def update(self, slug: str, mutate: Mutate) -> Collection:
        """Apply ``mutate`` to the stored collection; concurrent updaters lose nothing."""
        key = self._key(slug)
        if isinstance(self.backend, ConditionalJson):
            written = await self.backend.update_json(
                key, lambda data: self._apply(slug, key, data or None, mutate)
            )
            return Collection.from_json(written)
        # One task of this process at a time, then (a local folder) one process.
        async with self._lock, model_folder_lock(self.backend, self.folder):
            stored = await self.get(slug)
            updated = _bump(mutate(stored), stored)
            await self.backend.write(key, encode_json(updated.as_json()))
        return updated

    async def put(self, collection: Collection) -> None:
        """Keep a copy (of the bucket's version) as it is, for offline reads."""
        async with self._lock:
            stored = await self.get(collection.slug)
            if stored is None or collection.generation >= stored.generation:
                await self.backend.write(
                    self._key(collection.slug), encode_json(collection.as_json())
                )

    async def delete(self, slug: str) -> None:
        await self.backend.delete(self._key(slug))

    @staticmethod
    def _apply(slug: str, key: str, data: dict[str, Any] | None, mutate: Mutate) -> dict[str, Any]:
        stored = None if data is None else _checked(parse_collection(data, key), slug)
        return _bump(mutate(stored), stored).as_json()


class BucketShelf:
    """Collections in the team bucket, and the public ones in its public manifest."""

    def __init__(self, tier: BucketTier) -> None:
        self.tier = tier
        self.backend = tier.backend

    @property
    def where(self) -> str:
        return self.backend.location(BUCKET_FOLDER)

    async def get(self, slug: str) -> Collection | None:
        key = f"{BUCKET_FOLDER}/{collection_file_name(slug)}"
        data, _ = await self.backend.read_json_with_etag(key)
        return None if data is None else _checked(parse_collection(data, key), slug)

    async def all(self) -> list[Collection]:
        keys = [k async for k in self.backend.list_keys(BUCKET_FOLDER) if k.endswith(".json")]
        found = []
        for key, raw in sorted((await self.backend.read_many(keys)).items()):
            try:
                found.append(parse_collection(parse_json_object(key, raw), key))
            except IndexCorruptError as exc:
                logger.warning("skipping %s: %s", self.backend.location(key), exc)
        return sorted(found, key=lambda c: c.slug)

    async def update(self, slug: str, mutate: Mutate) -> Collection:
        key = f"{BUCKET_FOLDER}/{collection_file_name(slug)}"
        written = await self.backend.update_json(
            key, lambda data: StoreShelf._apply(slug, key, data or None, mutate)
        )
        collection = Collection.from_json(written)
        await self._publish(collection)
        return collection

    async def delete(self, slug: str) -> None:
        await self.backend.delete(f"{BUCKET_FOLDER}/{collection_file_name(slug)}")
        await self.backend.update_json(
            PUBLIC_MANIFEST, lambda m: {k: v for k, v in m.items() if k != slug}, public=True
        )

    async def _publish(self, collection: Collection) -> None:
        """Copy a public collection into the manifest (or take a private one out of it)."""
        manifest, _ = await self.backend.read_json_with_etag(PUBLIC_MANIFEST)
        if collection.private and (manifest is None or collection.slug not in manifest):
            return
        slug, data = collection.slug, collection.as_json()

        def mutate(manifest: dict[str, Any]) -> dict[str, Any]:
            # A concurrent updater may publish an older version after ours: keep the newer.
            newer = _newer(manifest.get(slug), data)
            rest = {k: v for k, v in manifest.items() if k != slug}
            return rest if newer.get("private", True) else {**rest, slug: newer}

        await self.backend.update_json(PUBLIC_MANIFEST, mutate, public=True)


class PublicShelf:
    """The public collections of a bucket, read with no credentials (the public manifest)."""

    def __init__(self, reader: PublicReader) -> None:
        self.reader = reader

    @property
    def where(self) -> str:
        return self.reader.tier.backend.public_url(PUBLIC_MANIFEST)

    async def _manifest(self) -> dict[str, Any]:
        return await self.reader.read_json(PUBLIC_MANIFEST) or {}

    async def get(self, slug: str) -> Collection | None:
        data = (await self._manifest()).get(validate_slug(slug))
        return None if data is None else _checked(parse_collection(data, self.where), slug)

    async def all(self) -> list[Collection]:
        found = []
        for slug, data in (await self._manifest()).items():
            try:
                found.append(_checked(parse_collection(data, self.where), slug))
            except IndexCorruptError as exc:
                logger.warning("skipping %s in %s: %s", slug, self.where, exc)
        return sorted(found, key=lambda c: c.slug)


def _checked(collection: Collection, slug: str) -> Collection:
    if collection.slug != slug:
        raise IndexCorruptError(
            f"the file of collection {slug!r} holds {collection.slug!r}; repair or delete it"
        )
    return collection
