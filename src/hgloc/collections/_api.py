"""The documented collection functions, async (blocking twins in :mod:`hgloc.sync`).

Each opens the configuration's collections (:class:`Collections`) for one call.
``sync_collection`` prefetches the items through a :class:`~hgloc.Localizer`;
``lock_collection`` writes a lock file of them from what the store holds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from hgloc.collections._model import Collection, CollectionItem
from hgloc.collections._shelves import Collections
from hgloc.config import DEFAULT_CONCURRENCY, Config
from hgloc.localize import Localizer, ModelRef, ModelResult, PrefetchReport, ProgressCallback
from hgloc.localize import parse_model_ref as _parse
from hgloc.lockfile import LockFile, make_lock

__all__ = [
    "add_to_collection",
    "create_collection",
    "get_collection",
    "list_collections",
    "lock_collection",
    "remove_from_collection",
    "sync_collection",
]


async def create_collection(
    slug: str,
    title: str,
    description: str | None = None,
    *,
    private: bool = True,
    exist_ok: bool = False,
    config: Config | None = None,
) -> Collection:
    """Create an empty collection ``slug`` (``name`` or ``owner/name``).

    With a bucket configured it lives in the bucket, beside the indexes;
    ``private=False`` also lists it in the bucket's public manifest, readable
    without credentials.
    """
    async with Collections(config) as shelf:
        return await shelf.create(
            slug, title=title, description=description, private=private, exist_ok=exist_ok
        )


async def add_to_collection(
    slug: str,
    model: str | ModelRef,
    *,
    revision: str | None = None,
    note: str | None = None,
    full: bool = False,
    include: Sequence[str] = (),
    config: Config | None = None,
) -> Collection:
    """Add ``model`` (``org/name`` or ``org/name@revision``) pinned at its revision.

    ``full=True``: every file of the repo (narrowed by ``include`` globs) when synced.
    Concurrent adds from several machines lose nothing (conditional writes).
    """
    ref = model if isinstance(model, ModelRef) else _parse(model, revision)
    async with Collections(config) as shelf:
        return await shelf.add(
            slug, ref.model_id, revision=ref.revision, note=note, full=full, include=list(include)
        )


async def remove_from_collection(
    slug: str, model: str | ModelRef, *, config: Config | None = None
) -> Collection:
    """Remove a model's items (``org/name@revision``: only the item at that revision)."""
    ref = model if isinstance(model, ModelRef) else _parse(model)
    async with Collections(config) as shelf:
        return await shelf.remove(slug, ref.model_id, ref.revision)


async def get_collection(slug: str, *, config: Config | None = None) -> Collection:
    """One collection; :class:`~hgloc.collections.CollectionNotFoundError` if none has ``slug``."""
    async with Collections(config) as shelf:
        return await shelf.get(slug)


async def list_collections(
    owner: str | None = None, *, config: Config | None = None
) -> list[Collection]:
    """Every collection (of ``owner``), sorted by slug."""
    async with Collections(config) as shelf:
        return await shelf.all(owner)


def _groups(items: Sequence[CollectionItem]) -> dict[tuple[bool, tuple[str, ...]], list[int]]:
    """Item positions by what is fetched of them: one prefetch per kind of request."""
    groups: dict[tuple[bool, tuple[str, ...]], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault((item.full, item.include), []).append(index)
    return groups


async def sync_collection(
    slug: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ProgressCallback | None = None,
    refresh: bool = False,
    upload: bool = True,
    config: Config | None = None,
) -> PrefetchReport:
    """Prefetch every item of a collection at its pinned revision; report per item, in order.

    Full-model items get every file (or their ``include`` globs); the others
    their card and config. Works like :func:`hgloc.prefetch`: from the store,
    the bucket, then the Hub; offline, only what is stored.
    """
    collection = await get_collection(slug, config=config)
    started = time.perf_counter()
    results: dict[int, ModelResult] = {}
    async with Localizer(config, concurrency=concurrency) as loc:
        for (full, include), positions in _groups(collection.items).items():
            refs = [
                ModelRef(collection.items[i].model_id, collection.items[i].revision)
                for i in positions
            ]
            report = await loc.prefetch(
                refs,
                refresh=refresh,
                progress=progress,
                metadata_only=not full,
                allow_patterns=list(include) or None,
                upload=upload,
            )
            by_ref = {(r.model_id, r.revision): r for r in report.results}
            for i in positions:
                item = collection.items[i]
                results[i] = by_ref[(item.model_id, item.revision)]
    ordered = tuple(results[i] for i in sorted(results))
    return PrefetchReport(ordered, time.perf_counter() - started)


async def lock_collection(
    slug: str,
    path: str | os.PathLike[str] | None = None,
    *,
    config: Config | None = None,
) -> LockFile:
    """The lock file of a collection's items as the store holds them (sync it first).

    Written to ``path`` when given. Makes no request to the Hub.
    """
    collection = await get_collection(slug, config=config)
    full = {ModelRef(item.model_id, item.revision): item.full for item in collection.items}
    async with Localizer(config) as loc:
        lock = await make_lock(loc, list(full), full=full)
    if path is not None:
        lock.write(path)
    return lock
