"""Collections as one configuration sees them: the bucket when there is one, else the store.

With a bucket and AWS credentials the bucket is the shared truth: every
update goes there (conditionally) and a copy is kept in the local store, so
the collection can still be read offline or on a machine cut off from the
bucket. Without credentials the public collections are read through the
bucket's public manifest. Without a bucket, the local store holds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
from anyio.abc import AsyncResource

from hgloc.backends import LocalBackend, StorageBackend
from hgloc.bucket import BucketAccess
from hgloc.collections._model import Collection, CollectionItem, validate_slug
from hgloc.collections._places import BucketShelf, PublicShelf, Shelf, StoreShelf
from hgloc.config import Config
from hgloc.errors import BackendUnavailableError, HglocError, ObjectNotFoundError

__all__ = ["CollectionExistsError", "CollectionNotFoundError", "Collections"]

logger = logging.getLogger("hgloc")


class CollectionNotFoundError(ObjectNotFoundError):
    """No collection has that slug (in the bucket, its public manifest, or the store)."""


class CollectionExistsError(HglocError, FileExistsError):
    """``create`` of a slug that is taken."""


class Collections(AsyncResource):
    """The collections of one configuration; use it as an async context manager.

    >>> async with Collections(config) as shelf:  # doctest: +SKIP
    ...     await shelf.create("team/encoders", title="Encoders")
    ...     await shelf.add("team/encoders", "google-bert/bert-base-uncased", revision="main")
    """

    def __init__(self, config: Config | None = None, *, backend: StorageBackend | None = None):
        self.config = config if config is not None else Config.from_env()
        self._owns_backend = backend is None
        self.backend = backend or LocalBackend(self.config.store_path)
        folder = self.config.bucket_folder
        self.store = StoreShelf(self.backend, f"by_bucket/{folder}" if folder else "")
        self._bucket = BucketAccess(self.config)

    async def aclose(self) -> None:
        await self._bucket.aclose()
        if self._owns_backend:
            await self.backend.aclose()

    async def _remote(self) -> BucketShelf | PublicShelf | None:
        if not self._bucket.configured:
            return None
        tier = await self._bucket.tier()
        if tier is not None:
            return BucketShelf(tier)
        public = await self._bucket.public()
        return None if public is None else PublicShelf(public)

    async def _update(
        self, slug: str, mutate: Callable[[Collection | None], Collection]
    ) -> Collection:
        validate_slug(slug)
        if not self._bucket.configured:
            return await self.store.update(slug, mutate)
        tier = await self._bucket.require()  # changing a team's collection needs credentials
        collection = await BucketShelf(tier).update(slug, mutate)
        await self.store.put(collection)
        return collection

    # -- reading -------------------------------------------------------------

    async def get(self, slug: str) -> Collection:
        """The collection, else :class:`CollectionNotFoundError`.

        With a bucket it is read there (and the local copy refreshed); when the
        bucket cannot be reached, the local copy answers, with a warning.
        """
        validate_slug(slug)
        found: Collection | None = None
        shelves: list[Shelf] = []
        remote = await self._remote()
        if remote is not None:
            shelves.append(remote)
        shelves.append(self.store)
        for shelf in shelves:
            try:
                found = await shelf.get(slug)
            except BackendUnavailableError as exc:
                logger.warning("%s; reading the local copy of %s", exc, slug)
                continue
            if found is not None:
                if shelf is remote and isinstance(remote, BucketShelf):
                    await self.store.put(found)
                return found
        raise CollectionNotFoundError(f"no collection {slug!r} in {self._where(remote)}")

    async def all(self, owner: str | None = None) -> list[Collection]:
        """Every collection (of ``owner``, if given), sorted by slug.

        With a bucket: the bucket's (without credentials, the public ones), plus
        local copies the bucket does not list; else the store's.
        """
        found: dict[str, Collection] = {}
        remote = await self._remote()
        if remote is not None:
            try:
                found = {c.slug: c for c in await remote.all()}
            except BackendUnavailableError as exc:
                logger.warning("%s; listing the local copies", exc)
        for collection in await self.store.all():
            found.setdefault(collection.slug, collection)
        out = sorted(found.values(), key=lambda c: c.slug)
        return [c for c in out if owner is None or c.owner == owner]

    def _where(self, remote: BucketShelf | PublicShelf | None) -> str:
        if remote is None:
            return self.store.where
        return f"{remote.where} or {self.store.where}"

    # -- changing ------------------------------------------------------------

    async def create(
        self,
        slug: str,
        *,
        title: str,
        description: str | None = None,
        private: bool = True,
        exist_ok: bool = False,
    ) -> Collection:
        """A new, empty collection; :class:`CollectionExistsError` if the slug is taken.

        ``exist_ok=True`` returns the existing one unchanged instead.
        ``private=False`` also publishes it (with a bucket) in the public manifest.
        """

        def mutate(stored: Collection | None) -> Collection:
            if stored is not None:
                if exist_ok:
                    return stored
                raise CollectionExistsError(f"a collection {slug!r} exists already")
            return Collection(slug=slug, title=title, description=description, private=private)

        return await self._update(slug, mutate)

    async def add(
        self,
        slug: str,
        model_id: str,
        *,
        revision: str | None = None,
        note: str | None = None,
        full: bool = False,
        include: tuple[str, ...] | list[str] = (),
    ) -> Collection:
        """Add a model pinned at ``revision`` (a branch, tag or commit) to the end.

        The same model at the same revision again updates its note and files in place.
        """
        item = CollectionItem(
            model_id=model_id, revision=revision, note=note, full=full, include=include
        )
        return await self._update(slug, lambda stored: self._existing(slug, stored).with_item(item))

    async def remove(self, slug: str, model_id: str, revision: str | None = None) -> Collection:
        """Remove the items of ``model_id`` (only the one at ``revision``, if given).

        Raises :class:`CollectionNotFoundError` when the collection has no such item.
        """

        def mutate(stored: Collection | None) -> Collection:
            held = self._existing(slug, stored)
            after = held.without(model_id, revision, any_revision=revision is None)
            if len(after.items) == len(held.items):
                what = model_id if revision is None else f"{model_id}@{revision}"
                raise CollectionNotFoundError(f"collection {slug!r} has no item {what!r}")
            return after

        return await self._update(slug, mutate)

    async def edit(
        self,
        slug: str,
        *,
        title: str | None = None,
        description: str | None = None,
        private: bool | None = None,
    ) -> Collection:
        """Change the title, description or privacy of a collection (``None``: unchanged)."""

        def mutate(stored: Collection | None) -> Collection:
            held = self._existing(slug, stored)
            return attrs.evolve(
                held,
                title=held.title if title is None else title,
                description=held.description if description is None else description,
                private=held.private if private is None else private,
            )

        return await self._update(slug, mutate)

    @staticmethod
    def _existing(slug: str, stored: Collection | None) -> Collection:
        if stored is None:
            raise CollectionNotFoundError(
                f"no collection {slug!r}; create it first (hgloc collection create)"
            )
        return stored
