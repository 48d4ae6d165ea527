"""A repo's branches and tags from the Hub: ``GET /api/models/{repo}/refs``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from hgloc.errors import HubError
from hgloc.sources._requests import HubSession

__all__ = ["HubRefs", "list_refs", "parse_refs"]

_MAX_BYTES = 16 << 20


@attrs.frozen
class HubRefs:
    """Branch and tag names of a repo, each with the commit it points at now."""

    branches: Mapping[str, str]
    tags: Mapping[str, str]


def parse_refs(data: Any, what: str = "the refs") -> HubRefs:
    """The Hub's refs JSON (``{"branches": [{"name", "ref", "targetCommit"}], "tags": [...]}``).

    >>> parse_refs({"branches": [{"name": "main", "targetCommit": "a" * 40}], "tags": []}).branches
    {'main': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}
    """

    def names(kind: str) -> dict[str, str]:
        items = data.get(kind, []) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise HubError(f"the Hub sent {what} without a list of {kind}")
        out: dict[str, str] = {}
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            commit = item.get("targetCommit") if isinstance(item, dict) else None
            if not isinstance(name, str) or not isinstance(commit, str):
                raise HubError(f"the Hub sent {what} with an entry hgloc cannot read: {item!r}")
            out[name] = commit
        return out

    return HubRefs(names("branches"), names("tags"))


async def list_refs(session: HubSession, repo_id: str) -> HubRefs:
    """The branches and tags of ``repo_id`` now."""
    what = f"the refs of {repo_id}"
    answer = await session.request(
        f"{session.endpoint}/api/models/{repo_id}/refs",
        what=what,
        repo_id=repo_id,
        revision=None,
        max_bytes=_MAX_BYTES,
    )
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError) as exc:
        raise HubError(f"the Hub sent {what} that is not JSON: {exc}") from exc
    return parse_refs(data, what)
