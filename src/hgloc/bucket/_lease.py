"""Leases in the bucket: one writer per model across processes and hosts.

A lease is a small JSON object, ``_hgloc/leases/<name>.json``, holding who
holds it, until when, and a fencing token::

    {"holder": "host:pid:abcd", "token": 7, "expires": 1717171717.5, "seconds": 30}

- Taking a free lease is a write with ``If-None-Match: *``; taking an expired
  (or released) one is a write with ``If-Match`` on the ETag read, with the
  token plus one. Of two processes racing, exactly one write lands.
- The holder renews it (``If-Match`` on its own last ETag) every third of its
  lifetime; a renewal that fails means another process took it over: the work
  is cancelled and :class:`~hgloc.errors.LeaseLostError` raised.
- :func:`fence` renews once more right before the holder publishes (the bucket
  tier calls it before writing a model's metadata object), so a holder that
  stalled past its expiry and was taken over cannot publish late.
- Releasing renews the lease once more, then deletes it: the bucket holds
  lease objects only while work is under way (or after a holder died).

Expiry is wall-clock time: replicas need clocks in sync (NTP) to within a
fraction of the lease's lifetime (``HGLOC_LEASE_SECONDS``, default 30).
Data objects a fenced-out holder wrote before noticing may land; they are not
visible until a metadata object names them, and served sizes are checked.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import attrs

from hgloc.backends import ConditionalPut
from hgloc.bucket._conditions import require_conditions, single_writer_mode
from hgloc.errors import (
    BackendUnavailableError,
    IndexCorruptError,
    LeaseLostError,
    ObjectNotFoundError,
)

__all__ = [
    "LEASE_FOLDER",
    "LEASE_SECONDS_ENV",
    "Lease",
    "Leases",
    "fence",
    "lease_seconds",
]

logger = logging.getLogger("hgloc")

LEASE_FOLDER = "_hgloc/leases"
LEASE_SECONDS_ENV = "HGLOC_LEASE_SECONDS"
_DEFAULT_SECONDS = 30.0
_DEFAULT_PATIENCE = 3600.0  # how long a waiter waits for live holders, in all
_T = TypeVar("_T")

_FENCE: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "hgloc_lease_fence", default=None
)


def lease_seconds() -> float:
    """A lease's lifetime: ``HGLOC_LEASE_SECONDS`` or 30 s."""
    raw = os.environ.get(LEASE_SECONDS_ENV, "").strip()
    try:
        value = float(raw) if raw else _DEFAULT_SECONDS
    except ValueError:
        raise ValueError(f"{LEASE_SECONDS_ENV} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{LEASE_SECONDS_ENV} must be positive, got {raw!r}")
    return value


async def fence() -> None:
    """Check that the current task still holds its lease, right before publishing.

    A no-op outside :meth:`Leases.exclusive`. Raises
    :class:`~hgloc.errors.LeaseLostError` when another process took the lease over.
    """
    check = _FENCE.get()
    if check is not None:
        await check()


@attrs.frozen
class Lease:
    """A lease this process holds: its key, the fencing token, the ETag of our last write."""

    key: str
    holder: str
    token: int
    expires: float
    etag: str


def _body(holder: str, token: int, expires: float, seconds: float) -> bytes:
    return json.dumps(
        {"holder": holder, "token": token, "expires": expires, "seconds": seconds}
    ).encode()


class Leases:
    """Leases over one bucket store (``ConditionalPut`` + ``read_json_with_etag``).

    ``holder`` names this process in the lease (default ``host:pid:random``).
    """

    def __init__(
        self,
        backend: Any,
        *,
        seconds: float | None = None,
        holder: str | None = None,
        patience: float = _DEFAULT_PATIENCE,
    ) -> None:
        # A store without conditional puts cannot hold leases: work runs unguarded there.
        self.coordinated = isinstance(backend, ConditionalPut)
        self.backend: Any = backend
        self.seconds = seconds if seconds is not None else lease_seconds()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.patience = patience

    def key(self, name: str) -> str:
        """The object holding lease ``name`` (a model's folder in the bucket)."""
        return f"{LEASE_FOLDER}/{name}.json"

    async def take(self, name: str) -> Lease | None:
        """Take lease ``name`` if it is free or expired; ``None`` if a live holder has it."""
        await require_conditions(self.backend, "taking a lease")
        key = self.key(name)
        expires = time.time() + self.seconds
        etag = await self.backend.put_if_absent(
            key, _body(self.holder, 1, expires, self.seconds), content_type="application/json"
        )
        if etag is not None:
            return Lease(key, self.holder, 1, expires, etag)
        try:
            current, read_etag = await self.backend.read_json_with_etag(key)
        except IndexCorruptError:
            current, read_etag = {}, None  # a damaged lease counts as expired
            with contextlib.suppress(ObjectNotFoundError):
                read_etag = (await self.backend.head(key)).etag
        if current is None or read_etag is None:
            return None  # released meanwhile: the next look takes it
        if float(current.get("expires", 0)) > time.time():
            return None
        token = int(current.get("token", 0)) + 1
        expires = time.time() + self.seconds
        etag = await self.backend.put_if_match(
            key, _body(self.holder, token, expires, self.seconds), read_etag,
            content_type="application/json",
        )  # fmt: skip
        if etag is None:
            return None  # another process took it over first
        if current.get("holder"):
            logger.warning(
                "took over lease %s from %s (expired); fencing token %d",
                key,
                current.get("holder"),
                token,
            )
        return Lease(key, self.holder, token, expires, etag)

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease``; :class:`~hgloc.errors.LeaseLostError` if it is no longer ours."""
        expires = time.time() + self.seconds
        etag = await self.backend.put_if_match(
            lease.key, _body(lease.holder, lease.token, expires, self.seconds), lease.etag,
            content_type="application/json",
        )  # fmt: skip
        if etag is None:
            raise LeaseLostError(
                f"lease {self.backend.location(lease.key)} (token {lease.token}) was taken "
                "over by another process: not publishing"
            )
        return attrs.evolve(lease, expires=expires, etag=etag)

    async def release(self, lease: Lease) -> None:
        """Give ``lease`` back: deleted, if it is still ours.

        Renewed first (``If-Match``): once that lands nobody can take the lease
        for another lifetime, so the plain delete after it removes our lease,
        never a successor's. Nothing stays in the bucket once the work is done.
        """
        try:
            await self.renew(lease)
            await self.backend.delete(lease.key)
        except Exception as exc:  # it expires on its own
            logger.debug("could not release lease %s: %s", lease.key, exc)

    async def exclusive(
        self,
        name: str,
        work: Callable[[], Awaitable[_T]],
        done: Callable[[], Awaitable[bool]],
    ) -> _T | None:
        """Run ``work`` under lease ``name`` unless ``done()`` says another process did it.

        Until ``done()`` is true or the lease is taken, waits with backoff (up to
        ``patience`` seconds). ``None`` when another process did the work.
        Within ``work``, :func:`fence` checks the lease is still held.
        """
        if single_writer_mode() or not self.coordinated:
            return await work()  # one writer declared (or no conditions): nobody to exclude
        deadline = time.monotonic() + self.patience
        delay = 0.05
        while True:
            if await done():
                return None
            lease = await self.take(name)
            if lease is not None:
                if await done():  # finished between our look and our take
                    await self.release(lease)
                    return None
                return await self._run(lease, work)
            if time.monotonic() > deadline:
                raise BackendUnavailableError(
                    f"waited {self.patience:.0f} s for another process to finish "
                    f"{name!r} (lease {self.backend.location(self.key(name))})"
                )
            await anyio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 1.0, self.seconds / 4)

    async def run(self, name: str, work: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``work`` under lease ``name``, waiting while another process holds it."""

        async def never() -> bool:
            return False

        result = await self.exclusive(name, lambda: _boxed(work), never)
        assert result is not None  # never done elsewhere: the work ran here
        return result[0]

    async def _run(self, lease: Lease, work: Callable[[], Awaitable[_T]]) -> _T:
        held = _Held(self, lease)
        token = _FENCE.set(held.check)
        results: list[_T] = []
        error: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(held.heartbeat, tg.cancel_scope)
                try:
                    results.append(await work())
                except Exception as exc:  # raised below, not wrapped in a group
                    error = exc
                finally:
                    tg.cancel_scope.cancel()
        finally:
            _FENCE.reset(token)
            with anyio.CancelScope(shield=True):
                if held.lost is None:
                    await self.release(held.lease)
        if error is not None:
            raise error
        if held.lost is not None:
            raise held.lost
        return results[0]


async def _boxed(work: Callable[[], Awaitable[_T]]) -> tuple[_T]:
    return (await work(),)


class _Held:
    """A lease being held: renewed in the background, checked by :func:`fence`."""

    def __init__(self, leases: Leases, lease: Lease) -> None:
        self.leases = leases
        self.lease = lease
        self.lost: LeaseLostError | None = None
        self._lock = anyio.Lock()

    async def check(self) -> None:
        async with self._lock:
            if self.lost is not None:
                raise self.lost
            try:
                self.lease = await self.leases.renew(self.lease)
            except LeaseLostError as exc:
                self.lost = exc
                raise

    async def heartbeat(self, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(self.leases.seconds / 3)
            try:
                await self.check()
            except LeaseLostError as exc:
                logger.error("%s", exc)
                scope.cancel()  # stop the work: its result could not be published
                return
            except Exception as exc:  # the bucket hiccupped: the next beat tries again
                logger.warning("could not renew lease %s: %s", self.lease.key, exc)
