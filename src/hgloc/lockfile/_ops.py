"""Lock files against a store: write one from what it holds, fetch exactly it, check it.

- :func:`make_lock`: offline, from the metadata of the stored models.
- :func:`fetch_locked`: each model at its locked commit, stored under the
  revision name it was locked as; the Hub moving a branch changes nothing. The
  commit is fetched into its own folder (``<id>/<commit>``), checked against the
  lock, then placed under the revision's folder (hard links on a local store)
  and the commit's folder removed again, unless it was there before.
- :func:`check_locked`: offline; every locked file re-hashed in the store.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import time
from collections.abc import Iterable, Mapping

import anyio
import attrs

from hgloc._aio import gather
from hgloc.errors import HglocError, IntegrityError, ObjectNotFoundError
from hgloc.layout import ModelRecord
from hgloc.localize import (
    Localizer,
    ModelRef,
    ModelRequest,
    ModelResult,
    PrefetchReport,
    ProgressCallback,
    Source,
    Status,
    VerifyReport,
    VerifyResult,
)
from hgloc.localize._results import failure
from hgloc.lockfile._model import LockedFile, LockedModel, LockFile
from hgloc.store import model_folder_lock
from hgloc.store._links import place_folder, remove_empty_folder
from hgloc.transfer._full_model import store_name

__all__ = ["LockMismatchError", "NotStoredError", "check_locked", "fetch_locked", "make_lock"]

logger = logging.getLogger("hgloc")


class LockMismatchError(IntegrityError):
    """The bytes fetched or stored for a model differ from what its lock file says."""


class NotStoredError(ObjectNotFoundError):
    """A model asked to be locked is not in the store (or records no commit)."""


async def _record(loc: Localizer, model_id: str, revision: str | None) -> ModelRecord | None:
    return await loc.models.load_model(loc.model_prefix(model_id, revision), model_id, revision)


async def make_lock(
    loc: Localizer, refs: Iterable[ModelRef], *, full: Mapping[ModelRef, bool] | None = None
) -> LockFile:
    """The lock of ``refs`` as the store holds them; makes no request.

    ``full`` says which were asked for as full models (a collection knows); by
    default a model counts as full when the store holds more than its card and
    config. Raises :class:`NotStoredError` naming every model the store lacks.
    """
    models: list[LockedModel] = []
    missing: list[str] = []
    for ref in dict.fromkeys(refs):
        record = await _record(loc, ref.model_id, ref.revision)
        if record is None:
            missing.append(str(ref))
            continue
        try:
            locked = LockedModel.from_record(record)
            if full is not None and ref in full:
                locked = attrs.evolve(locked, full=full[ref])
            models.append(locked)
        except ValueError as exc:
            missing.append(str(exc))
    if missing:
        raise NotStoredError(
            f"not in the store: {', '.join(missing)}; prefetch them first (locks are made "
            "from what the store holds)"
        )
    return LockFile(models)


def _patterns(model: LockedModel) -> list[str] | None:
    """Exactly the locked files, as globs (escaped: a path is never a pattern)."""
    if not model.full:
        return None
    return [glob.escape(f.path) for f in model.files]


async def _place(
    loc: Localizer, model: LockedModel, source_prefix: str, record: ModelRecord
) -> str:
    """Put the commit's folder under the revision's name; returns the revision's folder."""
    prefix = loc.model_prefix(model.model_id, model.revision)
    async with model_folder_lock(loc.backend, prefix):
        placed = attrs.evolve(record, revision=model.revision)
        await place_folder(loc.backend, source_prefix, prefix, placed)
    return loc.backend.location(prefix)


async def _fetch_one(loc: Localizer, model: LockedModel, *, upload: bool) -> ModelResult:
    started = time.perf_counter()
    held = await _record(loc, model.model_id, model.revision)
    if not model.differences(held):
        path = loc.backend.location(loc.model_prefix(model.model_id, model.revision))
        return ModelResult(
            model.model_id, model.revision, Status.SKIPPED, path, model.commit, source=Source.STORE
        )
    commit_prefix = loc.model_prefix(model.model_id, model.commit)
    had_commit_folder = await loc.models.load(commit_prefix) is not None
    fetched = await loc.get(
        ModelRequest(
            model_id=model.model_id,
            revision=model.commit,
            metadata_only=not model.full,
            allow_patterns=_patterns(model),
            upload=upload and model.revision == model.commit,
        )
    )
    record = await _record(loc, model.model_id, model.commit)
    problems = model.differences(record)
    if problems:
        raise LockMismatchError(
            f"{model.label} at {model.commit} differs from the lock: {'; '.join(problems)}"
        )
    assert record is not None
    where: str | None = fetched.path
    if model.revision != model.commit:
        where = await _place(loc, model, commit_prefix, record)
        if not had_commit_folder:
            await loc.models.delete(commit_prefix, sorted(record.files))
            await remove_empty_folder(loc.backend, commit_prefix)
        if upload and loc.config.has_bucket and fetched.source is not Source.BUCKET:
            try:
                await loc.upload(model.model_id, model.revision)
            except HglocError as exc:
                logger.warning(
                    "%s: cached, but not shared through the bucket: %s", model.label, exc
                )
    return ModelResult(
        model.model_id,
        model.revision,
        Status.FETCHED if fetched.status is not Status.SKIPPED else Status.SKIPPED,
        where,
        model.commit,
        seconds=time.perf_counter() - started,
        source=fetched.source,
    )


async def fetch_locked(
    loc: Localizer,
    lock: LockFile,
    *,
    progress: ProgressCallback | None = None,
    concurrency: int | None = None,
    upload: bool = True,
) -> PrefetchReport:
    """Fetch every model of ``lock`` at its locked commit; report per model, in lock order.

    A model the store already holds at the locked commit with the locked files
    is ``skipped`` (no request). One whose bytes differ from the lock fails with
    :class:`LockMismatchError`, and is not placed under its revision's name.
    """
    started = time.perf_counter()
    results: list[ModelResult | None] = [None] * len(lock.models)
    limiter = anyio.Semaphore(concurrency or loc.concurrency)

    async def one(index: int, model: LockedModel) -> None:
        async with limiter:
            t0 = time.perf_counter()
            try:
                result = await _fetch_one(loc, model, upload=upload)
            except (HglocError, OSError) as exc:
                logger.debug("locked fetch of %s failed", model.label, exc_info=True)
                result = failure(model.model_id, model.revision, exc, time.perf_counter() - t0)
        results[index] = result
        if progress is not None:
            progress(result)

    await gather(*(lambda i=i, m=m: one(i, m) for i, m in enumerate(lock.models)))
    done = tuple(r for r in results if r is not None)
    return PrefetchReport(done, time.perf_counter() - started)


def _hasher(file: LockedFile) -> hashlib._Hash:  # the type hashlib's constructors return
    if file.sha256 is not None:
        return hashlib.sha256()
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % file.size)  # the git blob id hashes this header first
    return h


async def _check_file(loc: Localizer, prefix: str, file: LockedFile) -> str | None:
    """The problem with one stored file, or ``None`` when its bytes are the locked ones."""
    key = f"{prefix}/{store_name(file.path)}"
    hasher, size = _hasher(file), 0
    try:
        async for chunk in loc.backend.read_stream(key):
            hasher.update(chunk)
            size += len(chunk)
    except ObjectNotFoundError:
        return f"{file.path}: missing"
    if size != file.size:
        return f"{file.path}: {size} bytes, the lock says {file.size}"
    if hasher.hexdigest() != (file.sha256 or file.git_oid):
        return f"{file.path}: its bytes differ from the lock (hash mismatch)"
    return None


async def check_locked(loc: Localizer, lock: LockFile) -> VerifyReport:
    """Check the store against ``lock``, offline: commits, and every file's bytes re-hashed."""
    started = time.perf_counter()
    results: list[VerifyResult] = []
    for model in lock.models:
        prefix = loc.model_prefix(model.model_id, model.revision)
        where = loc.backend.location(prefix)
        try:
            record = await _record(loc, model.model_id, model.revision)
        except HglocError as exc:
            results.append(
                VerifyResult(model.model_id, model.revision, where, 0, 0, error=str(exc))
            )
            continue
        problems = [p for p in model.differences(record) if "not stored" not in p]
        if record is None:
            results.append(
                VerifyResult(model.model_id, model.revision, where, 0, 0, ("not in the store",))
            )
            continue
        damaged: list[str] = []
        for file in model.files:
            problem = await _check_file(loc, prefix, file)
            if problem is not None:
                problems.append(problem)
                damaged.append(file.path)
        results.append(
            VerifyResult(
                model.model_id,
                model.revision,
                where,
                len(model.files),
                sum(f.size for f in model.files),
                tuple(problems),
                tuple(damaged),
            )
        )
    return VerifyReport(tuple(results), time.perf_counter() - started)
