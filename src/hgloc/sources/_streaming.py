"""A file's bytes as they arrive, in ranges, resumed after the last byte received."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator

import anyio
import attrs

from hgloc.errors import HubError, HubUnavailableError, IntegrityError, ResponseTooLargeError
from hgloc.sources._http import TransportError, is_encoded
from hgloc.sources._hub_protocol import (
    is_commit,
    link_lifetime,
    parse_ratelimit,
    resolve_url,
    same_origin,
)
from hgloc.sources._ranges import parse_content_range, range_header
from hgloc.sources._requests import HubSession, Opened, Retryable, transport_reason

__all__ = ["FileStreamer", "MinRate"]

logger = logging.getLogger("hgloc.sources")

_MAX_LOCATIONS = 4096
# A CDN answer to a remembered link that means "this link is no good any more" (an
# expired or revoked signature): resolve again at once, it is not a failure.
_STALE_LINK = frozenset({401, 403, 404, 410})


@attrs.frozen
class MinRate:
    """The slowest a big transfer may go: ``bytes_per_second`` over every ``window`` seconds.

    A connection slower than that (a server that drips a byte at a time) is
    dropped and the bytes after the last received asked for again; attempts
    that stay this slow count as failures, so a stalled file fails with a clear
    message instead of hanging. ``bytes_per_second=0`` turns the check off.
    """

    bytes_per_second: float = 1024.0
    window: float = 60.0


class _TooSlow(Retryable):
    """An attempt that brought bytes, but too slowly: it counts as a failure."""


class _RateWatch:
    """Bytes received in the current window of one attempt."""

    def __init__(self, rate: MinRate) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.bytes = 0

    def add(self, n: int) -> None:
        """Count ``n`` bytes; raise :class:`_TooSlow` when a whole window fell short."""
        self.bytes += n
        elapsed = time.monotonic() - self.start
        if self.rate.bytes_per_second <= 0 or elapsed < self.rate.window:
            return
        if self.bytes < self.rate.bytes_per_second * elapsed:
            raise _TooSlow(
                f"{self.bytes} bytes in {elapsed:.1f} s, slower than the minimum of "
                f"{self.rate.bytes_per_second:g} bytes/s (min_transfer_rate)"
            )
        self.start, self.bytes = time.monotonic(), 0


class FileStreamer:
    """Streams byte ranges of files, remembering where each commit's file lives.

    A commit's file never changes: ranges of one file go straight to where its
    first request was redirected (the CDN), without a Hub request each. Such a
    link is signed and expires (Xet-backed files): it is kept in memory only,
    used only within its ``X-Amz-Expires``, and a link the CDN refuses is
    resolved again through the Hub, the download going on from the last byte
    received.
    """

    def __init__(self, session: HubSession, min_rate: MinRate | None = None) -> None:
        self._session = session
        self._min_rate = min_rate or MinRate()
        # (repo, commit, path) -> (CDN URL, monotonic time it stops being used)
        self._locations: dict[tuple[str, str, str], tuple[str, float]] = {}

    async def stream(
        self,
        repo_id: str,
        revision: str,
        path: str,
        *,
        start: int = 0,
        end: int | None = None,
        size: int | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield bytes ``[start, end)`` of a file; see ``HuggingFaceSource.stream``."""
        session = self._session
        want = end if end is not None else size
        if want is not None and start >= want:
            return
        hub_url = resolve_url(session.endpoint, repo_id, revision, path)
        key = (repo_id, revision, path)
        what = f"{path} of {repo_id}@{revision}"
        policy = session.retry
        pos = start
        failures = 0
        while True:
            cdn_url = self._location(key)
            if cdn_url is None:
                await session.pacer.wait()
            before = pos
            delay: float | None = None
            try:
                header = range_header(pos, end)
                async with session.open(
                    cdn_url or hub_url, {"range": header} if header else None, long=True
                ) as opened:
                    status = opened.response.status_code
                    if cdn_url is not None and status in _STALE_LINK:
                        self._locations.pop(key, None)  # a signed link that expired
                        logger.debug("%s: the CDN refused its link (HTTP %d)", what, status)
                        continue  # resolve again now: no failure, no wait
                    if cdn_url is not None and status >= 400:
                        self._locations.pop(key, None)
                        raise Retryable(f"HTTP {status} from the CDN")
                    session.pacer.observe(parse_ratelimit(opened.hub_headers.get("ratelimit")))
                    limit = await self._check(opened, what, repo_id, revision, pos, size)
                    if cdn_url is None and is_commit(revision):
                        self._remember(key, opened.url)
                    watch = _RateWatch(self._min_rate)
                    async for chunk in opened.response.aiter_raw():
                        watch.add(len(chunk))
                        if limit is not None and pos + len(chunk) > limit:
                            raise ResponseTooLargeError(
                                f"{what}: {opened.url} sent more than the {limit - before} "
                                "bytes it announced"
                            )
                        if want is not None and pos + len(chunk) > want:
                            # The whole file, sent in answer to a request for its head.
                            yield chunk[: want - pos]
                            pos = want
                            return
                        pos += len(chunk)
                        yield chunk
                    if limit is not None and pos < limit:
                        raise Retryable(f"connection closed after {pos - before} bytes")
                    if want is None or pos >= want:
                        return
                    # A shorter range than asked for: ask for the rest.
            except Retryable as exc:
                reason, delay = str(exc), exc.delay
                slow = isinstance(exc, _TooSlow)
            except TransportError as exc:
                reason, slow = transport_reason(exc), False
            else:
                reason, slow = "", False
            if pos > before and not slow:
                failures = 0  # progress: the connection works, keep going
            else:
                failures += 1
                if failures > policy.max_retries:
                    raise HubUnavailableError(
                        f"could not fetch {what} from {session.endpoint}: {failures} attempts "
                        f"in a row brought no new byte or came too slowly (last: "
                        f"{reason or 'empty answer'}); try again later, the bytes already "
                        "fetched are kept"
                    )
            if reason:
                wait = max(delay or 0.0, policy.backoff.delay(max(failures - 1, 0), session.rng))
                logger.debug("resuming %s at byte %d in %.2fs (%s)", what, pos, wait, reason)
                await anyio.sleep(wait)

    def _location(self, key: tuple[str, str, str]) -> str | None:
        """Where a file's bytes were last sent from, while that link is still valid."""
        found = self._locations.get(key)
        if found is None:
            return None
        url, until = found
        if time.monotonic() >= until:
            del self._locations[key]
            return None
        return url

    def _remember(self, key: tuple[str, str, str], url: str) -> None:
        if same_origin(url, self._session.endpoint):
            return  # served by the Hub itself: nothing to skip next time
        if len(self._locations) >= _MAX_LOCATIONS:
            self._locations.clear()
        self._locations[key] = (url, time.monotonic() + link_lifetime(url))

    async def _check(
        self,
        opened: Opened,
        what: str,
        repo_id: str,
        revision: str,
        pos: int,
        size: int | None,
    ) -> int | None:
        """Check a streamed answer's status and sizes; return where its body must end."""
        response, headers = opened.response, opened.headers
        status = response.status_code
        if status >= 400:
            await self._session.raise_for_error(opened, what, repo_id, revision)
        if is_encoded(headers):  # byte positions would be those of the compressed stream
            raise HubError(
                f"{what}: {opened.url} sent a compressed body (Content-Encoding: "
                f"{headers.get('content-encoding')}) although hgloc asked for identity"
            )
        linked = opened.hub_headers.get("x-linked-size", "")
        if size is not None and linked.isdigit() and int(linked) != size:
            raise IntegrityError(
                f"{what}: the Hub announces {linked} bytes, the file list says {size}"
            )
        if size is None and linked.isdigit():
            size = int(linked)  # a Xet file's size when no Content-Length says it
        announced = headers.get("content-length", "")
        length = int(announced) if announced.isdigit() else None
        if status == 206:
            found = parse_content_range(headers.get("content-range"))
            if found is None or found.start != pos:
                raise HubError(
                    f"{what}: {opened.url} answered a request for bytes from {pos} with "
                    f"Content-Range {headers.get('content-range')!r}"
                )
            if size is not None and found.total is not None and found.total != size:
                raise IntegrityError(
                    f"{what}: the server holds {found.total} bytes, the file list says {size}"
                )
            return found.end
        if status == 200:
            if pos:
                raise HubError(
                    f"{what}: {opened.url} ignored a Range request, so the download cannot "
                    "resume; try again"
                )
            if size is not None and length is not None and length > size:
                raise ResponseTooLargeError(
                    f"{what}: {opened.url} announces {length} bytes, the file list says {size}"
                )
            return length if length is not None else size
        raise HubError(f"the Hub answered HTTP {status} for {what}")
