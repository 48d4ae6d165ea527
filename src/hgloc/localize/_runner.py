"""One bulk runner: a step per item over a few workers, results in the order given.

Used by prefetch (fetch, then share), the bucket sync and verify. An optional
second stage takes the results it wants in workers of its own, so a slow
second stage (a bucket upload) holds itself, not the first (the Hub side).

One item's unexpected error (a ``ValueError`` from a hostile answer, a bug)
becomes that item's result through ``on_error``: the run goes on and reports.
Cancellation, ``KeyboardInterrupt`` and ``MemoryError`` are never caught.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from hgloc._aio import task_group

__all__ = ["BulkRunner", "FollowUp", "OnError"]

logger = logging.getLogger("hgloc")

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")


@attrs.frozen
class FollowUp(Generic[R]):
    """A second stage: ``step`` runs on the results ``wanted`` picks, in ``workers`` workers."""

    wanted: Callable[[R], Awaitable[bool]]
    step: Callable[[R], Awaitable[R]]
    workers: int


OnError = Callable[[I, Exception], R]
"""``on_error(item, exc)``: the result of an item whose work raised ``exc``."""


def _untimed(result: R, seconds: float) -> R:
    return result


@attrs.frozen
class BulkRunner(Generic[R]):
    """Runs ``step`` on every item with up to ``workers`` in flight; never reorders results.

    ``progress`` is called with each result as it is final; ``timed(result, seconds)``
    may record how long its item took (from the moment a worker took it).
    """

    workers: int
    progress: Callable[[R], object] | None = None
    timed: Callable[[R, float], R] = _untimed

    def __attrs_post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.workers}")

    async def run(
        self,
        items: Sequence[I],
        step: Callable[[I], Awaitable[R]],
        then: FollowUp[R] | None = None,
        on_error: OnError[I, R] | None = None,
    ) -> list[R]:
        """Every item's result, in the order of ``items``.

        Without ``on_error`` an item's error ends the run (raised as itself).
        """
        results: list[R | None] = [None] * len(items)
        todo = iter(enumerate(items))  # shared: each item is taken by one worker

        def finish(index: int, result: R, began: float) -> None:
            results[index] = result = self.timed(result, time.perf_counter() - began)
            if self.progress is not None:
                self.progress(result)

        queue, queued = anyio.create_memory_object_stream[tuple[int, R, float]](math.inf)

        def recovered(index: int, exc: Exception) -> R:
            logger.error("unexpected error on item %d of a bulk run", index, exc_info=exc)
            assert on_error is not None
            return on_error(items[index], exc)

        def fatal(exc: Exception) -> bool:
            # MemoryError: the process is in trouble, not this item.
            return on_error is None or isinstance(exc, MemoryError)

        async def worker(queue: MemoryObjectSendStream[tuple[int, R, float]]) -> None:
            async with queue:
                for index, item in todo:
                    began = time.perf_counter()
                    try:
                        result = await step(item)
                        follow = then is not None and await then.wanted(result)
                    except Exception as exc:  # any error is this item's, not the run's
                        if fatal(exc):
                            raise
                        result, follow = recovered(index, exc), False
                    if follow:
                        await queue.send((index, result, began))
                    else:
                        finish(index, result, began)

        async def follower(queued: MemoryObjectReceiveStream[tuple[int, R, float]]) -> None:
            assert then is not None
            async with queued:
                async for index, result, began in queued:
                    try:
                        done = await then.step(result)
                    except Exception as exc:
                        if fatal(exc):
                            raise
                        done = recovered(index, exc)
                    finish(index, done, began)

        workers = min(self.workers, len(items))
        # The streams close as the block ends (before the task group waits), so the
        # followers stop when the last worker does.
        async with task_group() as tg, queue, queued:
            for _ in range(workers):
                tg.start_soon(worker, queue.clone())
            if then is not None:
                for _ in range(min(workers, then.workers)):
                    tg.start_soon(follower, queued.clone())
        done = [r for r in results if r is not None]
        assert len(done) == len(items)
        return done
