"""Small structured-concurrency helpers shared by the core."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup

from hgloc.errors import HglocError

__all__ = ["first_error", "gather", "task_group"]

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
        raise first_error(group) from None
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
        raise first_error(group) from None


def first_error(exc: BaseException) -> BaseException:
    """The one error to show for ``exc``, looking inside (nested) exception groups.

    hgloc's own errors first, then any ``Exception`` (a cancellation is a
    ``BaseException`` only, and says nothing about what failed), then the first leaf.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = list(_leaves(exc))
    for leaf in leaves:
        if isinstance(leaf, HglocError):
            return leaf
    for leaf in leaves:
        if isinstance(leaf, Exception):
            return leaf
    return leaves[0] if leaves else exc


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc
