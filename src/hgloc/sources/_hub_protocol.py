"""The Hub's HTTP protocol as pure functions: URLs, hashes, headers, errors.

No I/O here, so every rule is testable without a network (see
``tests/test_hub_protocol.py``). Where ``huggingface_hub`` already has the rule
(file URLs, the git blob hash, the RateLimit header) it is used; what remains
is hgloc's own. The request loop in ``_requests.py`` drives it.
"""

from __future__ import annotations

import enum
import hashlib
import random
import re
from collections.abc import Mapping
from typing import TypeGuard
from urllib.parse import parse_qs, quote, urlsplit

import attrs
from huggingface_hub import hf_hub_url
from huggingface_hub.utils import parse_ratelimit_headers  # type: ignore[attr-defined]  # lazy re-export
from huggingface_hub.utils.sha import git_hash

__all__ = [
    "RETRY_STATUSES",
    "Backoff",
    "HubErrorKind",
    "RateLimit",
    "check_digest",
    "classify_error",
    "git_blob_sha1",
    "is_commit",
    "link_lifetime",
    "model_info_url",
    "parse_etag",
    "parse_ratelimit",
    "parse_retry_after",
    "resolve_url",
    "same_origin",
    "split_revision",
    "url_problem",
]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_commit(revision: str | None) -> TypeGuard[str]:
    """Whether ``revision`` is a full 40-hex commit id."""
    return revision is not None and bool(_COMMIT.match(revision))


def resolve_url(endpoint: str, repo_id: str, revision: str, path: str) -> str:
    """``{endpoint}/{repo}/resolve/{revision}/{path}``, revision fully quoted.

    >>> resolve_url("https://huggingface.co", "gpt2", "refs/pr/1", "config.json")
    'https://huggingface.co/gpt2/resolve/refs%2Fpr%2F1/config.json'
    """
    return hf_hub_url(repo_id, path, revision=revision, endpoint=endpoint)


def model_info_url(endpoint: str, repo_id: str, revision: str | None) -> str:
    """The model info endpoint at a revision (or the default branch)."""
    if revision is None:
        return f"{endpoint}/api/models/{repo_id}"
    return f"{endpoint}/api/models/{repo_id}/revision/{quote(revision, safe='')}"


# The git blob id of some bytes: what the Hub sends as ``ETag`` for regular files.
git_blob_sha1 = git_hash


def parse_etag(value: str | None) -> str | None:
    """The hash inside an ``ETag`` header: quotes and a weak ``W/`` prefix dropped."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower() or None


def check_digest(expected: str | None, data: bytes) -> tuple[str, str] | None:
    """Compare ``data`` with an announced hash; return ``(kind, actual)`` on mismatch.

    A 64-hex hash is a sha256 (LFS), a 40-hex one a git blob sha1. Any other
    form (a CDN's own etag) cannot be checked and passes.
    """
    if expected is None:
        return None
    if _SHA256.match(expected):
        actual = hashlib.sha256(data).hexdigest()
        return None if actual == expected else ("sha256", actual)
    if _COMMIT.match(expected):
        actual = git_blob_sha1(data)
        return None if actual == expected else ("git sha1", actual)
    return None


@attrs.frozen
class RateLimit:
    """What the Hub says is left of the resolver budget in this window."""

    remaining: int
    reset_seconds: float


def parse_ratelimit(value: str | None) -> RateLimit | None:
    """Parse ``"resolvers";r=12;t=120`` (the IETF RateLimit header the Hub sends).

    >>> parse_ratelimit('"resolvers";r=12;t=120')
    RateLimit(remaining=12, reset_seconds=120.0)
    """
    info = parse_ratelimit_headers({"ratelimit": value}) if value else None
    return None if info is None else RateLimit(info.remaining, float(info.reset_in_seconds))


def parse_retry_after(value: str | None, *, cap: float = 300.0) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds form), capped."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # the HTTP-date form is not used by the Hub
    return max(0.0, min(seconds, cap))


@attrs.frozen
class Backoff:
    """Capped exponential backoff with full jitter."""

    base: float = 0.5
    cap: float = 20.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        return (rng or random).uniform(ceiling / 2, ceiling)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be requested (a port out of range, ``+port``, a broken IPv6
    host, not http(s)), or ``None``. Hub answers name URLs (redirects, next pages):
    a bad one is the Hub's fault, reported as such, never a bare ``ValueError``.

    >>> url_problem("http://127.0.0.1:99999/x")
    'Port out of range 0-65535'
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsed lazily: this is where a bad port raises
        if parts.scheme not in ("http", "https"):
            return f"scheme {parts.scheme!r} is not http(s)"
        if not parts.hostname:
            return "no host"
    except ValueError as exc:
        return str(exc)
    return None


_UNSIGNED_LINK_LIFETIME = 600.0


def link_lifetime(url: str) -> float:
    """Seconds a CDN link may be reused from now: most of its ``X-Amz-Expires``.

    A signed link (Xet-backed files) names its own lifetime; four fifths of it
    leaves room for the time it took to arrive. A link without one is reused
    for 10 minutes, then resolved again: one Hub request, never a stale host.

    >>> link_lifetime("https://cas-bridge.example/x?X-Amz-Expires=3600&X-Amz-Signature=s")
    2880.0
    """
    values = parse_qs(urlsplit(url).query).get("X-Amz-Expires", [])
    if values and values[0].isdigit():
        return min(int(values[0]) * 0.8, _UNSIGNED_LINK_LIFETIME * 6)
    return _UNSIGNED_LINK_LIFETIME


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port (so credentials may travel)."""
    sa, sb = urlsplit(a), urlsplit(b)
    return (sa.scheme, sa.hostname, sa.port) == (sb.scheme, sb.hostname, sb.port)


class HubErrorKind(enum.Enum):
    """What an error answer means; each names the exception the adapter raises."""

    REPO_NOT_FOUND = "repo_not_found"
    GATED = "gated"
    REVISION_NOT_FOUND = "revision_not_found"
    ENTRY_NOT_FOUND = "entry_not_found"
    RETRY = "retry"
    OTHER = "other"


def classify_error(status: int, headers: Mapping[str, str]) -> HubErrorKind:
    """Map an error status and ``X-Error-Code`` to a :class:`HubErrorKind`."""
    code = headers.get("x-error-code", "")
    if code == "GatedRepo":
        return HubErrorKind.GATED
    if code == "RepoNotFound" or (status == 401 and not code):
        return HubErrorKind.REPO_NOT_FOUND
    if code == "RevisionNotFound":
        return HubErrorKind.REVISION_NOT_FOUND
    if code == "EntryNotFound" or (status == 404 and not code):
        return HubErrorKind.ENTRY_NOT_FOUND
    if status in RETRY_STATUSES:
        return HubErrorKind.RETRY
    return HubErrorKind.OTHER


def split_revision(segs: list[str]) -> tuple[str, list[str]] | None:
    """The revision and the rest of a URL path; an unencoded ``refs/pr/1`` spans three segments.

    >>> split_revision(["refs", "pr", "1", "config.json"])
    ('refs/pr/1', ['config.json'])
    """
    if not segs:
        return None
    if segs[0] == "refs" and len(segs) >= 3:
        return "/".join(segs[:3]), segs[3:]
    return segs[0], segs[1:]
