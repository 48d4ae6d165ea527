"""Bulk operations over the runner: prefetch (fetch, then share) and the bucket sync.

Both report per model and never stop on one model's failure. With a bucket,
its index is written once at the end of a run, not once per model.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

import attrs

from hgloc.bucket import BucketAccess, BucketTier, Leases
from hgloc.config import DEFAULT_SYNC_CONCURRENCY
from hgloc.errors import BackendUnavailableError, HglocError
from hgloc.localize._local import LocalStore
from hgloc.localize._read_path import InBucket, ReadPath
from hgloc.localize._request import ModelRef, ModelRequest
from hgloc.localize._results import ModelResult, PrefetchReport, failure
from hgloc.localize._runner import BulkRunner, FollowUp
from hgloc.localize._sharing import Sharing

__all__ = ["ProgressCallback", "prefetch", "reporting", "sync_all", "unexpected"]

logger = logging.getLogger("hgloc")

ProgressCallback = Callable[[ModelResult], object]

_UNREACHABLE_LIMIT = 3  # models in a row that could not reach the bucket: it is down


async def reporting(
    ref: ModelRef | ModelRequest, action: Callable[[], Awaitable[ModelResult]]
) -> ModelResult:
    """Run ``action`` for one model of a bulk run, turning its failure into a result."""
    started = time.perf_counter()
    try:
        return await action()
    except (HglocError, OSError) as exc:  # OSError: a store that is full or read-only
        return failure(ref.model_id, ref.revision, exc, time.perf_counter() - started)


def unexpected(ref: ModelRef | ModelRequest, exc: Exception) -> ModelResult:
    """The failed row of a model whose work raised an error hgloc did not expect.

    A hostile answer or a bug fails that model only; the run goes on and reports.
    """
    result = failure(ref.model_id, ref.revision, exc)
    return result.failed(
        f"unexpected {type(exc).__name__}: {result.error} (the run went on without this "
        "model; please report it with the log, which holds the traceback)",
        type(exc).__name__,
    )


def _timed(result: ModelResult, seconds: float) -> ModelResult:
    return attrs.evolve(result, seconds=seconds)


async def prefetch(
    entries: Sequence[ModelRequest | ModelResult],
    *,
    read_path: ReadPath,
    sharing: Sharing,
    bucket: BucketAccess,
    upload: bool,
    workers: int,
    progress: ProgressCallback | None,
) -> PrefetchReport:
    """Fetch every request (a result in ``entries`` is a failure already, reported as is)."""
    started = time.perf_counter()
    runner = BulkRunner[ModelResult](workers, progress, _timed)
    requests = [e for e in entries if isinstance(e, ModelRequest)]
    tier = await bucket.tier() if sharing.local.bucket_folder and upload else None
    # One read of the bucket's index tells which models to look for in the bucket.
    in_bucket = await _bucket_listing(bucket) if sharing.local.bucket_folder else None

    async def fetch(request: ModelRequest) -> ModelResult:
        return await reporting(request, lambda: read_path.get(request, in_bucket))

    async def wanted(result: ModelResult) -> bool:
        return await sharing.wanted(result, by_key[result.model_id, result.revision], in_bucket)

    async def share(result: ModelResult) -> ModelResult:
        return await sharing.share(result, by_key[result.model_id, result.revision])

    by_key = {r.key: r for r in requests}
    # Uploads wait in a queue of small results (the bytes are in the local store) for
    # their own workers, so a slow bucket holds the uploads and not the Hub side.
    then = FollowUp(wanted, share, DEFAULT_SYNC_CONCURRENCY)
    async with deferred_index(tier) as index_failure:
        fetched = iter(await runner.run(requests, fetch, then, on_error=unexpected))
    results = [e if isinstance(e, ModelResult) else next(fetched) for e in entries]
    for entry in entries:
        if isinstance(entry, ModelResult) and progress is not None:
            progress(entry)
    done = mark_unindexed(results, tier, index_failure)
    return PrefetchReport(done, time.perf_counter() - started)


async def sync_all(
    local: LocalStore,
    sharing: Sharing,
    bucket: BucketAccess,
    *,
    make_public: bool,
    workers: int,
    progress: ProgressCallback | None,
) -> PrefetchReport:
    """Upload every model the store holds (not the copies of the public manifest)."""
    started = time.perf_counter()
    runner = BulkRunner[ModelResult](workers, progress)
    tier = await bucket.require()
    leases = Leases(tier.backend)
    # Copies read from the public manifest came from the bucket: not uploaded again.
    models = await local.list(public_copies=False)
    refs = [ModelRef(m.model_id, m.revision) for m in models]
    unreachable = 0

    async def upload(ref: ModelRef) -> ModelResult:
        nonlocal unreachable
        if unreachable >= _UNREACHABLE_LIMIT:
            return failure(
                ref.model_id,
                ref.revision,
                BackendUnavailableError(
                    "not synced: the bucket stopped answering; rerun to resume"
                ),
            )
        # One lease per model: two sync runs never upload one model at once (the second waits,
        # then finds every object in place).
        result = await reporting(
            ref,
            lambda: leases.run(
                tier.folder(ref.model_id, ref.revision),
                lambda: sharing.upload(ref.model_id, ref.revision, make_public=make_public),
            ),
        )
        down = result.error_type == BackendUnavailableError.__name__
        unreachable = unreachable + 1 if down else 0
        return result

    async with deferred_index(tier) as index_failure:
        results = await runner.run(refs, upload, on_error=unexpected)
    return PrefetchReport(
        mark_unindexed(results, tier, index_failure), time.perf_counter() - started
    )


async def _bucket_listing(bucket: BucketAccess) -> InBucket | None:
    """The models the bucket's index lists; ``None`` (ask per model) when unreadable."""
    try:
        entries = await bucket.entries()
    except HglocError as exc:
        logger.warning("could not read the bucket's index (%s); looking up each model", exc)
        return None
    # By name, and by commit: a commit asked for may be held as a branch or tag.
    names = ((e.model_id, e.revision) for e in entries)
    return frozenset([*names, *((e.model_id, e.commit) for e in entries if e.commit)])


@contextlib.asynccontextmanager
async def deferred_index(tier: BucketTier | None) -> AsyncIterator[list[HglocError]]:
    """Defer the bucket's index updates to the end of a bulk run; collect a failed update.

    A bulk run reports per model: an index that cannot be written at the end
    (the bucket went away) fails the models it leaves out, it does not raise.
    """
    failures: list[HglocError] = []
    if tier is None:
        yield failures
        return
    body_done = False
    try:
        async with tier.deferred_index():
            yield failures
            body_done = True
    except HglocError as exc:
        if not body_done:
            raise  # the run itself failed: that is not an index problem
        failures.append(exc)


def mark_unindexed(
    results: Iterable[ModelResult], tier: BucketTier | None, failures: list[HglocError]
) -> tuple[ModelResult, ...]:
    """Results, with models whose index entry could not be written turned into failures."""
    done = tuple(results)
    if tier is None or not failures:
        return done
    missing = tier.unindexed()
    reason = (
        f"uploaded, but the bucket's index could not be updated ({failures[0]}); rerun to resume"
    )
    return tuple(
        r.failed(reason, type(failures[0]).__name__)
        if r.ok and (r.model_id, r.revision) in missing
        else r
        for r in done
    )
