"""The documented version functions, async: refs, lock files (blocking twins in ``hgloc.sync``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from hgloc.config import DEFAULT_CONCURRENCY, Config
from hgloc.localize import (
    Localizer,
    ModelRef,
    PrefetchReport,
    ProgressCallback,
    VerifyReport,
    parse_model_ref,
)
from hgloc.lockfile import LockFile, check_locked, fetch_locked, make_lock
from hgloc.versions._refs import RefsReport, StoredRef, compare_refs, read_stored_refs

__all__ = ["lock", "locked_prefetch", "refs", "refs_in_store", "stored_refs", "verify_locked"]

logger = logging.getLogger("hgloc")

LockSource = str | os.PathLike[str] | LockFile


def _lock_of(locked: LockSource) -> LockFile:
    return locked if isinstance(locked, LockFile) else LockFile.read(locked)


async def refs_in_store(loc: Localizer, model_id: str) -> list[StoredRef]:
    """The revisions of ``model_id`` the localizer's store holds, each with its commit.

    Makes no request: what ``hgloc serve`` can answer ``refs`` from.
    """
    model_folder = loc.model_prefix(model_id).rpartition("/")[0]
    return await read_stored_refs(loc.models, model_folder, model_id)


async def stored_refs(model_id: str, *, config: Config | None = None) -> list[StoredRef]:
    """The revisions of ``model_id`` the store holds, each with the commit it resolved to."""
    async with Localizer(config) as loc:
        return await refs_in_store(loc, model_id)


async def refs(model_id: str, *, config: Config | None = None) -> RefsReport:
    """The Hub's branches and tags beside what the store holds, and which stored ones are behind.

    Offline (``HF_HUB_OFFLINE``), only the store's side.
    """
    async with Localizer(config) as loc:
        held = await refs_in_store(loc, model_id)
        hub = None if loc.config.is_offline else await loc.source.list_refs(model_id)
    return compare_refs(model_id, held, hub)


async def lock(
    models: Iterable[str | ModelRef],
    output: str | os.PathLike[str] | None = None,
    *,
    config: Config | None = None,
) -> LockFile:
    """A lock file of ``models`` (``org/name[@revision]``) as the store holds them; offline.

    Written to ``output`` when given. Raises :class:`~hgloc.lockfile.NotStoredError`
    naming every model the store lacks.

    >>> await hgloc.lockfile(["openai-community/gpt2@main"], "hgloc.lockfile")  # doctest: +SKIP
    """
    refs_ = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in models]
    async with Localizer(config) as loc:
        made = await make_lock(loc, refs_)
    if output is not None:
        made.write(output)
    return made


async def locked_prefetch(
    locked: LockSource,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ProgressCallback | None = None,
    upload: bool = True,
    config: Config | None = None,
) -> PrefetchReport:
    """Fetch every model of a lock file at its locked commit (see :func:`hgloc.prefetch`)."""
    lock_file = _lock_of(locked)
    async with Localizer(config, concurrency=concurrency) as loc:
        return await fetch_locked(loc, lock_file, progress=progress, upload=upload)


async def verify_locked(locked: LockSource, *, config: Config | None = None) -> VerifyReport:
    """Check the store against a lock file, offline: each model's commit and every file's bytes."""
    lock_file = _lock_of(locked)
    async with Localizer(config) as loc:
        return await check_locked(loc, lock_file)
