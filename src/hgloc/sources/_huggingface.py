"""The Hugging Face Hub adapter: fetch files and repo facts over one shared client."""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, NoReturn
from urllib.parse import unquote, urljoin, urlsplit

import anyio
import attrs

from hgloc.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HubError,
    HubUnavailableError,
    IntegrityError,
    OfflineModeError,
    RepositoryNotFoundError,
    ResponseTooLargeError,
    RevisionNotFoundError,
)
from hgloc.sources import _http
from hgloc.sources._hub_protocol import (
    Backoff,
    HubErrorKind,
    check_digest,
    classify_error,
    is_commit,
    model_info_url,
    parse_etag,
    parse_ratelimit,
    parse_retry_after,
    resolve_url,
    same_origin,
)
from hgloc.sources._pacing import RatePacer
from hgloc.sources._ranges import parse_content_range, range_header
from hgloc.sources._tree import TreeEntry, parse_link_next, parse_tree_page, tree_url

__all__ = ["HubFile", "HuggingFaceSource", "RetryPolicy"]

logger = logging.getLogger("hgloc.sources")

_MAX_REDIRECTS = 5
_DEFAULT_MAX_BYTES = 64 << 20  # metadata files; a card of several MB is already unusual
_API_MAX_BYTES = 64 << 20
_MAX_TREE_PAGES = 10_000  # 10 million files at the Hub's 1000 a page: far beyond any repo
_ERROR_BODY_MAX = 64 << 10
_MAX_LOCATIONS = 4096


@attrs.frozen
class RetryPolicy:
    """How transient failures (408, 429, 5xx, dropped connections) are retried."""

    max_retries: int = 6
    backoff: Backoff = attrs.field(factory=Backoff)
    max_retry_after: float = 120.0


@attrs.frozen
class HubFile:
    """One file as the Hub served it, already checked against its announced hash."""

    repo_path: str
    data: bytes
    commit: str | None
    sha1: str | None
    sha256: str | None
    resolved_repo_id: str


class _Retryable(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


@attrs.frozen
class _Opened:
    """A response whose body is still to be read, after every redirect was followed."""

    response: _http.Response
    headers: dict[str, str]
    hub_headers: dict[str, str]
    url: str


@attrs.frozen
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str
    hub_headers: dict[str, str]  # headers of the last answer from the Hub host itself
    response: _http.Response


class HuggingFaceSource:
    """Talks to one Hub endpoint with one connection pool.

    Credentials go only to the endpoint's own host; redirects elsewhere (the
    CDN for LFS files) are followed without them. Every answer's ``RateLimit``
    header feeds a shared :class:`RatePacer`.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        token: str | None,
        offline: bool = False,
        concurrency: int = 64,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str = "hgloc",
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.offline = offline
        self.retry = retry or RetryPolicy()
        self.pacer = RatePacer(low_water=max(16, concurrency))
        self._token = token
        self._rng = random.Random()
        self._locations: dict[tuple[str, str, str], str] = {}  # (repo, commit, path) -> CDN URL
        self._base_headers = {"user-agent": user_agent, "accept-encoding": "identity"}
        connections = max(4, concurrency)
        self._client = (
            None if offline else _http.make_client(connections=connections, timeout=timeout)
        )

    def __repr__(self) -> str:  # never show the token
        return f"HuggingFaceSource(endpoint={self.endpoint!r}, offline={self.offline})"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # -- public operations -------------------------------------------------

    async def fetch(
        self,
        repo_id: str,
        revision: str,
        path: str,
        *,
        max_bytes: int = _DEFAULT_MAX_BYTES,
    ) -> HubFile:
        """Download one file into memory, verified against the Hub's hash.

        Raises ``EntryNotFoundError`` when the repo has no such file.
        """
        url = resolve_url(self.endpoint, repo_id, revision, path)
        answer = await self._request(
            url,
            what=f"{path} of {repo_id}@{revision}",
            repo_id=repo_id,
            revision=revision,
            max_bytes=max_bytes,
            verify=True,
        )
        hub = answer.hub_headers
        expected = parse_etag(hub.get("x-linked-etag")) or parse_etag(hub.get("etag"))
        sha1 = sha256 = None
        if expected and len(expected) == 64:
            sha256 = expected
        elif expected and len(expected) == 40:
            sha1 = expected
        return HubFile(
            repo_path=path,
            data=answer.body,
            commit=hub.get("x-repo-commit"),
            sha1=sha1,
            sha256=sha256,
            resolved_repo_id=_repo_from_resolve_url(answer, repo_id),
        )

    async def model_info(self, repo_id: str, revision: str | None = None) -> dict[str, Any]:
        """The Hub's model info JSON (``sha`` is the commit ``revision`` points to)."""
        url = model_info_url(self.endpoint, repo_id, revision)
        answer = await self._request(
            url,
            what=f"model info of {repo_id}",
            repo_id=repo_id,
            revision=revision,
            max_bytes=_API_MAX_BYTES,
            verify=False,
        )
        return _json_object(answer.body, f"model info of {repo_id}")

    async def commit_of(self, repo_id: str, revision: str | None) -> str:
        """The commit ``revision`` resolves to now: one cheap API call."""
        info = await self.model_info(repo_id, revision)
        sha = info.get("sha")
        if not isinstance(sha, str):
            raise HubError(f"the Hub's model info for {repo_id!r} carries no commit")
        return sha

    async def list_tree(self, repo_id: str, revision: str) -> list[TreeEntry]:
        """Every file of the repo at ``revision``, following the listing's pages.

        Paths are returned as the Hub sent them: validate them before use.
        """
        url: str | None = tree_url(self.endpoint, repo_id, revision)
        what = f"the file list of {repo_id}@{revision}"
        entries: list[TreeEntry] = []
        seen: set[str] = set()
        while url is not None:
            if url in seen or len(seen) >= _MAX_TREE_PAGES:
                raise HubError(f"{what} does not end: page {len(seen) + 1} at {url}")
            seen.add(url)
            answer = await self._request(
                url,
                what=what,
                repo_id=repo_id,
                revision=revision,
                max_bytes=_API_MAX_BYTES,
                verify=False,
            )
            try:
                page = json.loads(answer.body)
                entries += parse_tree_page(page, what=f"{what} (page {len(seen)})")
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise HubError(f"the Hub sent {what} in a form hgloc cannot read: {exc}") from exc
            link = parse_link_next(answer.headers.get("link"))
            url = urljoin(answer.url, link) if link else None
        return entries

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
        """Yield bytes ``[start, end)`` of a file (``end=None``: to its end), as they arrive.

        Uses ``Range`` unless the whole file is asked for. A dropped connection,
        a short body, a 5xx or a 429 is retried by asking for the bytes after the
        last one received, so nothing is fetched twice; the retry budget is spent
        only by attempts that bring no new byte. ``size``, when known (from the
        file list), is checked against what the Hub announces. Nothing is hashed
        here: the caller verifies the whole file.

        Use it inside ``contextlib.aclosing`` so a consumer that stops early
        closes the connection at once.
        """
        if self.offline or self._client is None:
            raise OfflineModeError(
                f"cannot fetch {path} of {repo_id}: offline mode is on (HF_HUB_OFFLINE=1 or "
                "skip_hf_fetch); unset it to reach the Hub, or use models already in the store"
            )
        want = end if end is not None else size
        if want is not None and start >= want:
            return
        hub_url = resolve_url(self.endpoint, repo_id, revision, path)
        key = (repo_id, revision, path)
        what = f"{path} of {repo_id}@{revision}"
        policy = self.retry
        pos = start
        failures = 0
        while True:
            # A commit's file never changes: ranges of one file go straight to where its
            # first request was redirected (the CDN), without a Hub request each.
            cdn_url = self._locations.get(key)
            if cdn_url is None:
                await self.pacer.wait()
            before = pos
            delay: float | None = None
            try:
                header = range_header(pos, end)
                async with self._open(
                    cdn_url or hub_url, {"range": header} if header else None, long=True
                ) as opened:
                    if cdn_url is not None and opened.response.status_code >= 400:
                        self._locations.pop(key, None)  # a signed link that expired
                        raise _Retryable(f"HTTP {opened.response.status_code} from the CDN", 0.0)
                    self.pacer.observe(parse_ratelimit(opened.hub_headers.get("ratelimit")))
                    limit = await self._check_stream(opened, what, repo_id, revision, pos, size)
                    if cdn_url is None and is_commit(revision):
                        self._remember_location(key, opened.url)
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
                        raise _Retryable(f"connection closed after {pos - before} bytes")
                    if want is None or pos >= want:
                        return
                    # A shorter range than asked for: ask for the rest.
            except _Retryable as exc:
                reason, delay = str(exc), exc.delay
            except _http.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                reason = ""
            if pos > before:
                failures = 0  # progress: the connection works, keep going
            else:
                failures += 1
                if failures > policy.max_retries:
                    raise HubUnavailableError(
                        f"could not fetch {what} from {self.endpoint}: {failures} attempts in a "
                        f"row brought no new byte (last: {reason or 'empty answer'}); "
                        "try again later, the bytes already fetched are kept"
                    )
            if reason:
                wait = max(delay or 0.0, policy.backoff.delay(max(failures - 1, 0), self._rng))
                logger.debug("resuming %s at byte %d in %.2fs (%s)", what, pos, wait, reason)
                await anyio.sleep(wait)

    def _remember_location(self, key: tuple[str, str, str], url: str) -> None:
        if same_origin(url, self.endpoint):
            return  # served by the Hub itself: nothing to skip next time
        if len(self._locations) >= _MAX_LOCATIONS:
            self._locations.clear()
        self._locations[key] = url

    async def _check_stream(
        self,
        opened: _Opened,
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
            body = b""
            with contextlib.suppress(Exception):  # the status says enough without a body
                body = await _read_capped(response, _ERROR_BODY_MAX, headers)
            answer = _Answer(status, headers, body, opened.url, opened.hub_headers, response)
            self._raise_for_status(answer, what, repo_id, revision)
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

    # -- the request loop --------------------------------------------------

    async def _request(
        self,
        url: str,
        *,
        what: str,
        repo_id: str,
        revision: str | None,
        max_bytes: int,
        verify: bool,
    ) -> _Answer:
        if self.offline or self._client is None:
            raise OfflineModeError(
                f"cannot fetch {what}: offline mode is on (HF_HUB_OFFLINE is set); "
                "unset it to reach the Hub, or use models already in the store"
            )
        policy = self.retry
        last_reason = "no attempt made"
        for attempt in range(policy.max_retries + 1):
            await self.pacer.wait()
            try:
                answer = await self._send(url, max_bytes=max_bytes)
                self.pacer.observe(parse_ratelimit(answer.hub_headers.get("ratelimit")))
                if answer.status >= 400:
                    self._raise_for_status(answer, what, repo_id, revision)
                if verify:
                    self._verify(answer, what)
                return answer
            except _Retryable as exc:
                last_reason = str(exc)
                delay = max(exc.delay or 0.0, policy.backoff.delay(attempt, self._rng))
            except _http.TransportError as exc:
                last_reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                delay = policy.backoff.delay(attempt, self._rng)
            if attempt < policy.max_retries:
                logger.debug("retrying %s in %.2fs (%s)", what, delay, last_reason)
                await anyio.sleep(delay)
        if last_reason.startswith("hash mismatch"):
            raise IntegrityError(
                f"{what}: {last_reason}, on every one of {policy.max_retries + 1} attempts"
            )
        raise HubUnavailableError(
            f"could not fetch {what} from {self.endpoint} after {policy.max_retries + 1} "
            f"attempts (last: {last_reason}); try again later"
        )

    async def _send(self, url: str, *, max_bytes: int) -> _Answer:
        async with self._open(url) as opened:
            if opened.response.status_code < 400:
                body = await _read_capped(opened.response, max_bytes, opened.headers)
            else:
                # An error's body only decorates its status: it is capped on its own (a
                # 404 page may be larger than the small file asked for) and never fails.
                body = b""
                with contextlib.suppress(ResponseTooLargeError, _Retryable, _http.TransportError):
                    body = await _read_capped(opened.response, _ERROR_BODY_MAX, opened.headers)
            return _Answer(
                opened.response.status_code,
                opened.headers,
                body,
                opened.url,
                opened.hub_headers,
                opened.response,
            )

    @contextlib.asynccontextmanager
    async def _open(
        self, url: str, extra_headers: Mapping[str, str] | None = None, *, long: bool = False
    ) -> AsyncIterator[_Opened]:
        """GET ``url``, following redirects; the token goes to the Hub's own host only.

        ``long``: the answer is a big file's bytes, consumed at the caller's pace
        (see ``_http.Client``: nothing queues behind it).
        """
        assert self._client is not None
        async with self._follow(url, extra_headers, long=long) as opened:
            yield opened

    @contextlib.asynccontextmanager
    async def _follow(
        self, url: str, extra_headers: Mapping[str, str] | None, *, long: bool
    ) -> AsyncIterator[_Opened]:
        assert self._client is not None
        hub_headers: dict[str, str] = {}
        for _ in range(_MAX_REDIRECTS + 1):
            headers = {**self._base_headers, **(extra_headers or {})}
            on_hub = same_origin(url, self.endpoint)
            if on_hub and self._token:
                headers["authorization"] = f"Bearer {self._token}"
            async with self._client.stream("GET", url, headers=headers, long=long) as response:
                answer_headers = {k.lower(): v for k, v in response.headers.items()}
                if on_hub:
                    # A CDN hop must not erase what the Hub announced (commit, sha256).
                    hub_headers = {
                        **answer_headers,
                        **{
                            k: v
                            for k, v in hub_headers.items()
                            if k in ("x-linked-etag", "x-linked-size", "x-repo-commit")
                            and k not in answer_headers
                        },
                    }
                if (
                    response.status_code in (301, 302, 303, 307, 308)
                    and "location" in answer_headers
                ):
                    url = urljoin(url, answer_headers["location"])
                    continue
                yield _Opened(response, answer_headers, hub_headers, url)
                return
        raise HubError(f"too many redirects fetching {url}")

    def _verify(self, answer: _Answer, what: str) -> None:
        hub = answer.hub_headers
        expected = parse_etag(hub.get("x-linked-etag")) or parse_etag(hub.get("etag"))
        linked_size = hub.get("x-linked-size")
        if (
            linked_size is not None
            and linked_size.isdigit()
            and int(linked_size) != len(answer.body)
        ):
            raise _Retryable(
                f"size mismatch: the Hub announced {linked_size} bytes, got {len(answer.body)}"
            )
        mismatch = check_digest(expected, answer.body)
        if mismatch:
            kind, actual = mismatch
            raise _Retryable(f"hash mismatch: expected {kind} {expected}, got {actual}")

    def _raise_for_status(
        self, answer: _Answer, what: str, repo_id: str, revision: str | None
    ) -> None:
        kind = classify_error(answer.status, answer.headers)
        if kind == HubErrorKind.RETRY:
            retry_after = parse_retry_after(
                answer.headers.get("retry-after"), cap=self.retry.max_retry_after
            )
            if answer.status == 429:
                self.pacer.pause(retry_after if retry_after is not None else 1.0)
            raise _Retryable(f"HTTP {answer.status}", retry_after)
        _raise_hub_error(kind, answer, what, repo_id, revision, self.endpoint)


async def _read_capped(response: _http.Response, max_bytes: int, headers: dict[str, str]) -> bytes:
    announced = headers.get("content-length")
    limit = max_bytes
    if announced is not None and announced.isdigit():
        if int(announced) > max_bytes:
            raise ResponseTooLargeError(
                f"{response.url} announces {announced} bytes, more than the {max_bytes} allowed"
            )
        limit = int(announced)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_raw():
        total += len(chunk)
        if total > limit:
            raise ResponseTooLargeError(
                f"{response.url} sent more than the {limit} bytes "
                f"{'it announced' if announced else 'allowed'}"
            )
        chunks.append(chunk)
    if announced is not None and announced.isdigit() and total != int(announced):
        raise _Retryable(f"connection closed after {total} of {announced} bytes")
    return b"".join(chunks)


def _repo_from_resolve_url(answer: _Answer, fallback: str) -> str:
    # After a rename redirect the last Hub URL names the repo's current id.
    path = urlsplit(answer.url).path
    if "/resolve/" in path:
        return unquote(path.split("/resolve/", 1)[0].lstrip("/")) or fallback
    return fallback


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise HubError(f"the Hub sent {what} that is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HubError(f"the Hub sent {what} that is not a JSON object")
    return data


def _raise_hub_error(
    kind: str, answer: _Answer, what: str, repo_id: str, revision: str | None, endpoint: str
) -> NoReturn:
    server = answer.headers.get("x-error-message", "")
    suffix = f" (Hub said: {server})" if server else ""
    response = answer.response
    if kind == HubErrorKind.GATED:
        raise GatedRepoError(
            f"{repo_id!r} is a gated model: accept its terms at {endpoint}/{repo_id} and set "
            f"HF_TOKEN to a token of the account that was granted access{suffix}",
            response=response,
        )
    if kind == HubErrorKind.REPO_NOT_FOUND:
        raise RepositoryNotFoundError(
            f"model {repo_id!r} was not found on {endpoint}: check the id; if it is private, "
            f"set HF_TOKEN to a token that can read it{suffix}",
            response=response,
        )
    if kind == HubErrorKind.REVISION_NOT_FOUND:
        raise RevisionNotFoundError(
            f"revision {revision!r} does not exist in {repo_id!r}: use a branch, tag or "
            f"commit of that repo{suffix}",
            response=response,
        )
    if kind == HubErrorKind.ENTRY_NOT_FOUND:
        raise EntryNotFoundError(f"{what} does not exist{suffix}", response=response)
    raise HubError(f"the Hub answered HTTP {answer.status} for {what}{suffix}")
