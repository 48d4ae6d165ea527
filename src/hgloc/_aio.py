"""Small structured-concurrency helpers shared by the core."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup

__all__ = ["gather", "task_group"]

T = TypeVar("T")


async def gather(*calls: Callable[[], Awaitable[T]]) -> list[T]:
    """Run ``calls`` concurrently and return their results in order.

    The first failure cancels the others and is raised as itself, not inside
    an ``ExceptionGroup``, so callers catch hgloc's errors as usual.
    """
    results: list[Any] = [None] * len(calls)

    async def run(index: int, call: Callable[[], Awaitable[T]]) -> None:
        results[index] = await call()

    try:
        async with anyio.create_task_group() as tg:
            for index, call in enumerate(calls):
                tg.start_soon(run, index, call)
    except BaseExceptionGroup as group:
        raise _first(group) from None
    return results


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    """``anyio.create_task_group()`` whose first failure is raised as itself.

    Public APIs run on it, so a caller catches an error it knows (a broken
    pipe in a progress callback, an hgloc error) rather than an ``ExceptionGroup``.
    """
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        raise _first(group) from None


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            return exc
    return group.exceptions[0]
