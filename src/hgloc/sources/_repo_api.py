"""Facts about a repo from the Hub's API: model info, the commit a revision is at, the file list."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from hgloc.errors import HubError
from hgloc.sources._hub_protocol import model_info_url
from hgloc.sources._requests import HubSession
from hgloc.sources._tree import TreeEntry, parse_link_next, parse_tree_page, tree_url

__all__ = ["commit_of", "list_tree", "model_info"]

_API_MAX_BYTES = 64 << 20
_MAX_TREE_PAGES = 10_000  # 10 million files at the Hub's 1000 a page: far beyond any repo


async def model_info(session: HubSession, repo_id: str, revision: str | None) -> dict[str, Any]:
    """The Hub's model info JSON (``sha`` is the commit ``revision`` points to)."""
    what = f"model info of {repo_id}"
    answer = await session.request(
        model_info_url(session.endpoint, repo_id, revision),
        what=what,
        repo_id=repo_id,
        revision=revision,
        max_bytes=_API_MAX_BYTES,
    )
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise HubError(f"the Hub sent {what} that is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HubError(f"the Hub sent {what} that is not a JSON object")
    return data


async def commit_of(session: HubSession, repo_id: str, revision: str | None) -> str:
    """The commit ``revision`` resolves to now: one cheap API call."""
    sha = (await model_info(session, repo_id, revision)).get("sha")
    if not isinstance(sha, str):
        raise HubError(f"the Hub's model info for {repo_id!r} carries no commit")
    return sha


async def list_tree(session: HubSession, repo_id: str, revision: str) -> list[TreeEntry]:
    """Every file of the repo at ``revision``, following the listing's pages.

    Paths are returned as the Hub sent them: validate them before use.
    """
    url: str | None = tree_url(session.endpoint, repo_id, revision)
    what = f"the file list of {repo_id}@{revision}"
    entries: list[TreeEntry] = []
    seen: set[str] = set()
    while url is not None:
        if url in seen or len(seen) >= _MAX_TREE_PAGES:
            raise HubError(f"{what} does not end: page {len(seen) + 1} at {url}")
        seen.add(url)
        answer = await session.request(
            url, what=what, repo_id=repo_id, revision=revision, max_bytes=_API_MAX_BYTES
        )
        try:
            page = json.loads(answer.body)
            entries += parse_tree_page(page, what=f"{what} (page {len(seen)})")
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise HubError(f"the Hub sent {what} in a form hgloc cannot read: {exc}") from exc
        link = parse_link_next(answer.headers.get("link"))
        url = urljoin(answer.url, link) if link else None
    return entries
