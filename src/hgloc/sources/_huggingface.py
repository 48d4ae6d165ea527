"""The Hugging Face Hub adapter: fetch files and repo facts over one shared client."""

from __future__ import annotations

import json
import logging
import random
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
    model_info_url,
    parse_etag,
    parse_ratelimit,
    parse_retry_after,
    resolve_url,
    same_origin,
)
from hgloc.sources._pacing import RatePacer

__all__ = ["HubFile", "HuggingFaceSource", "RetryPolicy"]

logger = logging.getLogger("hgloc.sources")

_MAX_REDIRECTS = 5
_DEFAULT_MAX_BYTES = 64 << 20  # metadata files; a card of several MB is already unusual
_API_MAX_BYTES = 64 << 20


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
        self._base_headers = {"user-agent": user_agent, "accept-encoding": "identity"}
        self._client = (
            None
            if offline
            else _http.make_client(connections=max(4, concurrency * 2), timeout=timeout)
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
                f"cannot fetch {what}: offline mode is on (HF_HUB_OFFLINE=1 or skip_hf_fetch); "
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
        assert self._client is not None
        hub_headers: dict[str, str] = {}
        for _ in range(_MAX_REDIRECTS + 1):
            headers = dict(self._base_headers)
            on_hub = same_origin(url, self.endpoint)
            if on_hub and self._token:
                headers["authorization"] = f"Bearer {self._token}"
            async with self._client.stream("GET", url, headers=headers) as response:
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
                body = await _read_capped(response, max_bytes, answer_headers)
                return _Answer(
                    response.status_code, answer_headers, body, url, hub_headers, response
                )
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
    except ValueError as exc:
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
