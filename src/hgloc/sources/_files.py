"""One small file fetched whole and checked against the hash and size the Hub announced."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import attrs

from hgloc.sources._hub_protocol import check_digest, parse_etag, resolve_url
from hgloc.sources._requests import Answer, HubSession, Retryable

__all__ = ["DEFAULT_MAX_BYTES", "HubFile", "fetch_file"]

DEFAULT_MAX_BYTES = 64 << 20  # metadata files; a card of several MB is already unusual


@attrs.frozen
class HubFile:
    """One file as the Hub served it, already checked against its announced hash."""

    repo_path: str
    data: bytes
    commit: str | None
    sha1: str | None
    sha256: str | None
    resolved_repo_id: str


async def fetch_file(
    session: HubSession,
    repo_id: str,
    revision: str,
    path: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> HubFile:
    """Download one file into memory, verified against the Hub's hash.

    A body that does not match is fetched again; raises ``EntryNotFoundError``
    when the repo has no such file.
    """
    answer = await session.request(
        resolve_url(session.endpoint, repo_id, revision, path),
        what=f"{path} of {repo_id}@{revision}",
        repo_id=repo_id,
        revision=revision,
        max_bytes=max_bytes,
        check=_verify,
    )
    hub = answer.hub_headers
    expected = _announced_hash(answer)
    return HubFile(
        repo_path=path,
        data=answer.body,
        commit=hub.get("x-repo-commit"),
        sha1=expected if expected and len(expected) == 40 else None,
        sha256=expected if expected and len(expected) == 64 else None,
        resolved_repo_id=_repo_from_resolve_url(answer.url, repo_id),
    )


def _announced_hash(answer: Answer) -> str | None:
    # An LFS file's sha256 comes with the Hub's redirect; a regular file's git sha1 is its ETag.
    hub = answer.hub_headers
    return parse_etag(hub.get("x-linked-etag")) or parse_etag(hub.get("etag"))


def _verify(answer: Answer) -> None:
    linked_size = answer.hub_headers.get("x-linked-size")
    if linked_size is not None and linked_size.isdigit() and int(linked_size) != len(answer.body):
        raise Retryable(
            f"size mismatch: the Hub announced {linked_size} bytes, got {len(answer.body)}"
        )
    expected = _announced_hash(answer)
    mismatch = check_digest(expected, answer.body)
    if mismatch:
        kind, actual = mismatch
        raise Retryable(f"hash mismatch: expected {kind} {expected}, got {actual}")


def _repo_from_resolve_url(url: str, fallback: str) -> str:
    # After a rename redirect the last Hub URL names the repo's current id.
    path = urlsplit(url).path
    if "/resolve/" in path:
        return unquote(path.split("/resolve/", 1)[0].lstrip("/")) or fallback
    return fallback
