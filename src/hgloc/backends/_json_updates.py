"""Conditional JSON updates, written once for every store that has ETag conditions.

A store supplies two things: how to read an object with its ETag, and how to
write bytes only if the ETag is still the one read (``None``: only if absent).
The rules (parse or refuse, call ``mutate``, retry a conflict with jitter, queue
this process's writers per key) live here, so S3 and memory behave alike.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from hgloc.errors import BackendUnavailableError, IndexCorruptError

__all__ = ["KeyLocks", "encode_json", "parse_json_object", "update_json"]

Mutate = Callable[[dict[str, Any]], dict[str, Any]]
ReadWithEtag = Callable[[], Awaitable[tuple[dict[str, Any] | None, str | None]]]
WriteIf = Callable[[bytes, str | None], Awaitable[bool]]
"""Write the body if the object's ETag is the given one (``None``: if it is absent);
``False`` when another writer got there first."""


def parse_json_object(where: str, data: bytes) -> dict[str, Any]:
    """``data`` as a JSON object, or :class:`~hgloc.errors.IndexCorruptError` naming ``where``.

    >>> parse_json_object("memory://m/i.json", b'{"a": 1}')
    {'a': 1}
    """
    try:
        value = json.loads(data.decode("utf-8"))
    # UnicodeDecodeError and JSONDecodeError are ValueErrors; RecursionError: '[[[[...'
    except (ValueError, RecursionError) as exc:
        raise IndexCorruptError(
            f"{where} is not valid JSON ({exc}); repair or delete it, hgloc will not overwrite it"
        ) from exc
    if not isinstance(value, dict):
        raise IndexCorruptError(
            f"{where} holds a JSON {type(value).__name__}, not an object; "
            "repair or delete it, hgloc will not overwrite it"
        )
    return value


def encode_json(value: dict[str, Any]) -> bytes:
    """How hgloc writes a JSON index: indented, UTF-8."""
    return json.dumps(value, indent=2, ensure_ascii=False).encode()


class KeyLocks:
    """One lock per key, so one store's updaters queue rather than race each other.

    Conditional writes then only arbitrate between processes or hosts, and 30
    local writers cost 30 round trips instead of a retry storm. Locks belong to
    the event loop that used them: :meth:`clear` when a store is closed.
    """

    def __init__(self) -> None:
        self._locks: dict[str, anyio.Lock] = {}

    def __call__(self, key: str) -> anyio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        return lock

    def clear(self) -> None:
        self._locks = {}


async def update_json(
    where: str,
    lock: anyio.Lock,
    read: ReadWithEtag,
    write_if: WriteIf,
    mutate: Mutate,
    attempts: int,
) -> dict[str, Any]:
    """Read, ``mutate``, write if unchanged; retried on a conflict up to ``attempts`` times."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    async with lock:
        for attempt in range(attempts):
            current, etag = await read()
            updated = mutate(current if current is not None else {})
            if not isinstance(updated, dict):
                raise TypeError(f"mutate must return a dict, got {type(updated).__name__}")
            if await write_if(encode_json(updated), etag):
                return updated
            await anyio.sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))
    raise BackendUnavailableError(
        f"could not update {where}: it changed under us {attempts} times "
        "in a row (too many concurrent writers); try again"
    )
