"""CPU work of a request (parsing a card, building a big JSON body) off the event loop, bounded.

A few worker threads at most, and a deadline per request: one request that
parses something hostile never holds up the others, and its client gets a
503 instead of waiting. The limits of the parsers themselves
(:mod:`hgloc.hub_wire`) keep the abandoned work short.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

__all__ = ["WORK_SECONDS", "WorkTimeoutError", "off_loop", "work_threads"]

WORK_SECONDS = 10.0
_P = ParamSpec("_P")
_T = TypeVar("_T")


class WorkTimeoutError(TimeoutError):
    """A request's CPU work took longer than its deadline."""


def work_threads() -> anyio.CapacityLimiter:
    """The threads a server lends to request work (made inside its event loop)."""
    return anyio.CapacityLimiter(4)


async def off_loop(
    threads: anyio.CapacityLimiter, func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    """``func(*args, **kwargs)`` on one of ``threads``, given up after :data:`WORK_SECONDS`."""
    call = functools.partial(func, *args, **kwargs)
    try:
        with anyio.fail_after(WORK_SECONDS):
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=threads)
    except TimeoutError as exc:
        raise WorkTimeoutError(f"gave up after {WORK_SECONDS:g} s of work") from exc
