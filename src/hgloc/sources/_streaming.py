"""A file's bytes as they arrive, in ranges, resumed after the last byte received."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import anyio

from hgloc.errors import HubError, HubUnavailableError, IntegrityError, ResponseTooLargeError
from hgloc.sources._http import TransportError
from hgloc.sources._hub_protocol import is_commit, parse_ratelimit, resolve_url, same_origin
from hgloc.sources._ranges import parse_content_range, range_header
from hgloc.sources._requests import HubSession, Opened, Retryable, transport_reason

__all__ = ["FileStreamer"]

logger = logging.getLogger("hgloc.sources")

_MAX_LOCATIONS = 4096


class FileStreamer:
    """Streams byte ranges of files, remembering where each commit's file lives.

    A commit's file never changes: ranges of one file go straight to where its
    first request was redirected (the CDN), without a Hub request each.
    """

    def __init__(self, session: HubSession) -> None:
        self._session = session
        self._locations: dict[tuple[str, str, str], str] = {}  # (repo, commit, path) -> CDN URL

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
            cdn_url = self._locations.get(key)
            if cdn_url is None:
                await session.pacer.wait()
            before = pos
            delay: float | None = None
            try:
                header = range_header(pos, end)
                async with session.open(
                    cdn_url or hub_url, {"range": header} if header else None, long=True
                ) as opened:
                    if cdn_url is not None and opened.response.status_code >= 400:
                        self._locations.pop(key, None)  # a signed link that expired
                        raise Retryable(f"HTTP {opened.response.status_code} from the CDN", 0.0)
                    session.pacer.observe(parse_ratelimit(opened.hub_headers.get("ratelimit")))
                    limit = await self._check(opened, what, repo_id, revision, pos, size)
                    if cdn_url is None and is_commit(revision):
                        self._remember(key, opened.url)
                    async for chunk in opened.response.aiter_raw():
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
            except TransportError as exc:
                reason = transport_reason(exc)
            else:
                reason = ""
            if pos > before:
                failures = 0  # progress: the connection works, keep going
            else:
                failures += 1
                if failures > policy.max_retries:
                    raise HubUnavailableError(
                        f"could not fetch {what} from {session.endpoint}: {failures} attempts "
                        f"in a row brought no new byte (last: {reason or 'empty answer'}); "
                        "try again later, the bytes already fetched are kept"
                    )
            if reason:
                wait = max(delay or 0.0, policy.backoff.delay(max(failures - 1, 0), session.rng))
                logger.debug("resuming %s at byte %d in %.2fs (%s)", what, pos, wait, reason)
                await anyio.sleep(wait)

    def _remember(self, key: tuple[str, str, str], url: str) -> None:
        if same_origin(url, self._session.endpoint):
            return  # served by the Hub itself: nothing to skip next time
        if len(self._locations) >= _MAX_LOCATIONS:
            self._locations.clear()
        self._locations[key] = url

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
        linked = opened.hub_headers.get("x-linked-size", "")
        if size is not None and linked.isdigit() and int(linked) != size:
            raise IntegrityError(
                f"{what}: the Hub announces {linked} bytes, the file list says {size}"
            )
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
