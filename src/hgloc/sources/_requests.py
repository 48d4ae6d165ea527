"""Requests to one Hub endpoint: redirects, credentials, retries, pacing.

The token travels only to the endpoint's own host: a redirect elsewhere (the
CDN for LFS files) is followed without it. Every answer's ``RateLimit`` header
feeds the shared :class:`RatePacer`; error answers become hgloc exceptions.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from urllib.parse import urljoin

import anyio
import attrs

from hgloc.errors import HubError, HubUnavailableError, IntegrityError, ResponseTooLargeError
from hgloc.sources._http import Client, Response, TransportError
from hgloc.sources._hub_errors import raise_hub_error
from hgloc.sources._hub_protocol import (
    Backoff,
    HubErrorKind,
    classify_error,
    parse_ratelimit,
    parse_retry_after,
    same_origin,
)
from hgloc.sources._pacing import RatePacer

__all__ = ["Answer", "HubSession", "Opened", "RetryPolicy", "Retryable", "read_capped"]

logger = logging.getLogger("hgloc.sources")

_MAX_REDIRECTS = 5
_ERROR_BODY_MAX = 64 << 10
# Headers of the Hub's own answer that a CDN hop must not erase (commit, sha256, size).
_HUB_FACTS = ("x-linked-etag", "x-linked-size", "x-repo-commit")


@attrs.frozen
class RetryPolicy:
    """How transient failures (408, 429, 5xx, dropped connections) are retried."""

    max_retries: int = 6
    backoff: Backoff = attrs.field(factory=Backoff)
    max_retry_after: float = 120.0


class Retryable(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


@attrs.frozen
class Opened:
    """A response whose body is still to be read, after every redirect was followed."""

    response: Response
    headers: dict[str, str]
    hub_headers: dict[str, str]  # headers of the last answer from the Hub host itself
    url: str


@attrs.frozen
class Answer:
    """A whole answer, body read."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str
    hub_headers: dict[str, str]  # headers of the last answer from the Hub host itself
    response: Response


def transport_reason(exc: TransportError) -> str:
    """A dropped connection, named for a log line or an error message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class HubSession:
    """Sends requests to one endpoint over one client, with the Hub's rules.

    ``headers`` go with every request; ``auth`` only with those to the
    endpoint's own host.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        client: Client,
        headers: Mapping[str, str],
        auth: Mapping[str, str],
        retry: RetryPolicy,
        pacer: RatePacer,
    ) -> None:
        self.endpoint = endpoint
        self.retry = retry
        self.pacer = pacer
        self.rng = random.Random()
        self._client = client
        self._headers = dict(headers)
        self._auth = dict(auth)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        url: str,
        *,
        what: str,
        repo_id: str,
        revision: str | None,
        max_bytes: int,
        check: Callable[[Answer], None] | None = None,
    ) -> Answer:
        """GET a whole small answer, retrying transient failures.

        ``check`` may raise :class:`Retryable` (a body that does not match its
        announced hash): the answer is then fetched again.
        """
        policy = self.retry
        last_reason = "no attempt made"
        for attempt in range(policy.max_retries + 1):
            await self.pacer.wait()
            try:
                answer = await self._send(url, max_bytes=max_bytes)
                self.pacer.observe(parse_ratelimit(answer.hub_headers.get("ratelimit")))
                if answer.status >= 400:
                    self.raise_for_status(answer, what, repo_id, revision)
                if check is not None:
                    check(answer)
                return answer
            except Retryable as exc:
                last_reason = str(exc)
                delay = max(exc.delay or 0.0, policy.backoff.delay(attempt, self.rng))
            except TransportError as exc:
                last_reason = transport_reason(exc)
                delay = policy.backoff.delay(attempt, self.rng)
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

    async def _send(self, url: str, *, max_bytes: int) -> Answer:
        async with self.open(url) as opened:
            if opened.response.status_code < 400:
                body = await read_capped(opened.response, max_bytes, opened.headers)
            else:
                # An error's body only decorates its status: it is capped on its own (a
                # 404 page may be larger than the small file asked for) and never fails.
                body = b""
                with contextlib.suppress(ResponseTooLargeError, Retryable, TransportError):
                    body = await read_capped(opened.response, _ERROR_BODY_MAX, opened.headers)
            return Answer(
                opened.response.status_code,
                opened.headers,
                body,
                opened.url,
                opened.hub_headers,
                opened.response,
            )

    @contextlib.asynccontextmanager
    async def open(
        self, url: str, extra_headers: Mapping[str, str] | None = None, *, long: bool = False
    ) -> AsyncIterator[Opened]:
        """GET ``url``, following redirects; the token goes to the Hub's own host only.

        ``long``: the answer is a big file's bytes, consumed at the caller's pace
        (see ``_http.Client``: nothing queues behind it).
        """
        hub_headers: dict[str, str] = {}
        for _ in range(_MAX_REDIRECTS + 1):
            on_hub = same_origin(url, self.endpoint)
            headers = {**self._headers, **(self._auth if on_hub else {}), **(extra_headers or {})}
            async with self._client.stream("GET", url, headers=headers, long=long) as response:
                answer_headers = {k.lower(): v for k, v in response.headers.items()}
                if on_hub:
                    kept = {k: v for k, v in hub_headers.items() if k in _HUB_FACTS}
                    hub_headers = {**kept, **answer_headers}
                if (
                    response.status_code in (301, 302, 303, 307, 308)
                    and "location" in answer_headers
                ):
                    url = urljoin(url, answer_headers["location"])
                    continue
                yield Opened(response, answer_headers, hub_headers, url)
                return
        raise HubError(f"too many redirects fetching {url}")

    async def raise_for_error(
        self, opened: Opened, what: str, repo_id: str, revision: str | None
    ) -> None:
        """Raise for a streamed error answer, its body read (capped) for the message."""
        body = b""
        with contextlib.suppress(Exception):  # the status says enough without a body
            body = await read_capped(opened.response, _ERROR_BODY_MAX, opened.headers)
        answer = Answer(
            opened.response.status_code,
            opened.headers,
            body,
            opened.url,
            opened.hub_headers,
            opened.response,
        )
        self.raise_for_status(answer, what, repo_id, revision)

    def raise_for_status(
        self, answer: Answer, what: str, repo_id: str, revision: str | None
    ) -> None:
        """Raise :class:`Retryable` for a transient error, the matching hgloc error otherwise."""
        kind = classify_error(answer.status, answer.headers)
        if kind is HubErrorKind.RETRY:
            retry_after = parse_retry_after(
                answer.headers.get("retry-after"), cap=self.retry.max_retry_after
            )
            if answer.status == 429:
                self.pacer.pause(retry_after if retry_after is not None else 1.0)
            raise Retryable(f"HTTP {answer.status}", retry_after)
        raise_hub_error(
            kind,
            status=answer.status,
            headers=answer.headers,
            response=answer.response,
            what=what,
            repo_id=repo_id,
            revision=revision,
            endpoint=self.endpoint,
        )


async def read_capped(response: Response, max_bytes: int, headers: dict[str, str]) -> bytes:
    """A whole body of at most ``max_bytes``; :class:`Retryable` if it ends short."""
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
        raise Retryable(f"connection closed after {total} of {announced} bytes")
    return b"".join(chunks)
