"""The answers of ``hgloc serve`` that are not files: Hub errors, JSON documents, failures.

Errors carry the Hub's ``X-Error-Code`` (from :mod:`hgloc.hub_wire`) so clients
raise the exceptions users already catch.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from hgloc.errors import (
    BackendUnavailableError,
    EntryNotFoundError,
    GatedRepoError,
    HubUnavailableError,
    OfflineModeError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from hgloc.hub_wire import ErrorCode, error_document
from hgloc.serve._catalog import Snapshot
from hgloc.serve._upstream import Want

__all__ = [
    "Headers",
    "damaged",
    "entry_not_found",
    "hub_error",
    "internal_error",
    "json_reply",
    "plain",
    "reply",
    "repo_not_found",
    "revision_not_found",
    "store_failure",
    "upstream_failure",
]

logger = logging.getLogger("hgloc.serve")

Headers = list[tuple[bytes, bytes]]
JSON = b"application/json; charset=utf-8"
_TEXT = b"text/plain; charset=utf-8"
_RETRY = [(b"retry-after", b"5")]


def reply(status: int, headers: Headers, body: bytes = b"") -> Response:
    """A response with exactly ``headers`` (``Content-Length`` included: HEAD keeps GET's)."""
    response = Response(body, status_code=status)
    response.raw_headers = list(headers)
    return response


def json_reply(body: bytes) -> Response:
    return reply(200, [(b"content-type", JSON), (b"content-length", b"%d" % len(body))], body)


def plain(status: int, text: str, extra: Headers | None = None) -> Response:
    body = text.encode()
    headers: Headers = [(b"content-type", _TEXT), (b"content-length", b"%d" % len(body))]
    return reply(status, headers + (extra or []), body)


def hub_error(
    status: int,
    code: ErrorCode | None,
    message: str,
    extra: Headers | None = None,
    *,
    detail: str | None = None,
) -> Response:
    """A Hub error: ``X-Error-Code`` and ``X-Error-Message``, and ``detail`` in the JSON body."""
    body, headers = error_document(code, message, detail=detail)
    return reply(status, headers + (extra or []), body)


def repo_not_found(repo_id: str) -> Response:
    message = f"Repository {repo_id} not found on this server"
    return hub_error(404, ErrorCode.REPO_NOT_FOUND, message)


def revision_not_found(revision: str) -> Response:
    return hub_error(404, ErrorCode.REVISION_NOT_FOUND, f"Invalid rev id: {revision}")


def entry_not_found(path: str, revision: str, commit: str | None) -> Response:
    extra = [(b"x-repo-commit", commit.encode())] if commit else []
    message = f"{path} does not exist on {revision}"
    return hub_error(404, ErrorCode.ENTRY_NOT_FOUND, message, extra)


def damaged(message: str) -> Response:
    logger.error("store damaged: %s", message)
    return hub_error(500, None, f"the store is damaged: {message}")


async def store_failure(request: Request, exc: Exception) -> Response:
    """The answer for a store error no route expected: the store's fault, never a dropped socket."""
    if isinstance(exc, BackendUnavailableError):
        logger.warning("store unavailable: %s", exc)
        return hub_error(503, None, f"the store is unavailable: {exc}", _RETRY)
    logger.error("cannot answer: %s", exc)
    return hub_error(500, None, f"cannot read the store: {exc}")


async def internal_error(request: Request, exc: Exception) -> Response:
    """Anything else: a bug. The ASGI server logs the exception, the client gets JSON."""
    return hub_error(500, None, "internal error; see the server's log")


def upstream_failure(
    exc: BaseException, repo_id: str, revision: str, want: Want, snap: Snapshot | None
) -> Response:
    """The Hub's answer for what the upstream Hub (or storing its files) failed with."""
    commit = snap.commit if snap is not None else None
    if isinstance(exc, GatedRepoError):
        return hub_error(403, ErrorCode.GATED_REPO, f"{repo_id} is gated upstream: {exc}")
    if isinstance(exc, RepositoryNotFoundError):
        return hub_error(404, ErrorCode.REPO_NOT_FOUND, f"Repository {repo_id} not found upstream")
    if isinstance(exc, RevisionNotFoundError):
        return revision_not_found(revision)
    if isinstance(exc, EntryNotFoundError):
        return entry_not_found(want.path or "", revision, commit)
    if isinstance(exc, HubUnavailableError | OfflineModeError):
        logger.warning("upstream unavailable for %s@%s: %s", repo_id, revision, exc)
        return hub_error(502, None, f"the upstream Hub did not answer: {exc}")
    if isinstance(exc, BackendUnavailableError):
        return hub_error(503, None, f"the store is unavailable: {exc}", _RETRY)
    logger.error("fetching %s@%s failed: %s", repo_id, revision, exc)
    return hub_error(502, None, f"fetching {repo_id}@{revision} failed: {exc}")
