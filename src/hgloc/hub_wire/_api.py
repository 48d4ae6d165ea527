"""The rest of the API stock clients call on a mirror: refs, commits, model listings, paging.

``list_repo_refs``, ``list_repo_commits`` and ``list_models`` of huggingface_hub
read these documents; lists are paged with a ``Link: <...>; rel="next"``
header carrying an opaque ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import attrs

__all__ = [
    "MAX_PAGE",
    "CommitFacts",
    "ListingQuery",
    "ModelSort",
    "Page",
    "Ref",
    "commits_document",
    "decode_cursor",
    "encode_cursor",
    "next_link",
    "page_of",
    "refs_document",
]

MAX_PAGE = 1000  # the Hub's page size for listings
_T = TypeVar("_T")


# -- paging ----------------------------------------------------------------------------------


def encode_cursor(offset: int) -> str:
    """The ``cursor`` of the page starting at ``offset`` (the emulator's encoding too).

    >>> decode_cursor(encode_cursor(1000))
    1000
    """
    return base64.urlsafe_b64encode(b"%d" % offset).decode()


def decode_cursor(cursor: str | None) -> int | None:
    """The offset a ``cursor`` names; 0 without one, ``None`` when it is not ours."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return int(text) if text.isascii() and text.isdigit() else None


@attrs.frozen
class Page:
    """One page of a listing, and the cursor of the next (``None``: the last page)."""

    items: Sequence[Any]
    next_cursor: str | None


def page_of(items: Sequence[_T], offset: int, size: int) -> Page:
    """The page of ``items`` starting at ``offset``, at most ``size`` long.

    >>> page_of(list(range(5)), 0, 2).items, page_of(list(range(5)), 4, 2).next_cursor
    ([0, 1], None)
    """
    size = max(1, min(size, MAX_PAGE))
    chunk = list(items[offset : offset + size])
    more = offset + size < len(items)
    return Page(chunk, encode_cursor(offset + size) if more else None)


def next_link(url: str, query: Iterable[tuple[str, str]], cursor: str) -> bytes:
    """The ``Link`` header value pointing at the next page: the same query, a new cursor.

    >>> next_link("http://h/api/models", [("search", "bert"), ("cursor", "x")], "MTA=")
    b'<http://h/api/models?search=bert&cursor=MTA%3D>; rel="next"'
    """
    params = [(k, v) for k, v in query if k != "cursor"] + [("cursor", cursor)]
    return f'<{url}?{urlencode(params)}>; rel="next"'.encode()


# -- refs and commits ------------------------------------------------------------------------


@attrs.frozen
class Ref:
    """A branch, tag or pull-request ref and the commit it points at."""

    name: str
    commit: str

    def document(self, kind: str) -> dict[str, str]:
        ref = self.name if self.name.startswith("refs/") else f"refs/{kind}/{self.name}"
        return {"name": self.name, "ref": ref, "targetCommit": self.commit}


def refs_document(
    branches: Iterable[Ref], tags: Iterable[Ref] = (), pull_requests: Iterable[Ref] = ()
) -> dict[str, list[dict[str, str]]]:
    """The body of ``GET /api/models/{id}/refs`` (``pullRequests`` always present)."""
    return {
        "branches": [r.document("heads") for r in branches],
        "converts": [],
        "tags": [r.document("tags") for r in tags],
        "pullRequests": [r.document("pr") for r in pull_requests],
    }


@attrs.frozen
class CommitFacts:
    """What a server knows of one commit. ``date`` is in the Hub's format."""

    commit: str
    date: str
    title: str = ""
    message: str = ""
    authors: tuple[str, ...] = ()


def commits_document(commits: Iterable[CommitFacts]) -> list[dict[str, Any]]:
    """The items of ``GET /api/models/{id}/commits/{rev}``, newest first as given."""
    return [
        {
            "id": c.commit,
            "title": c.title,
            "message": c.message,
            "authors": [{"user": a} for a in c.authors],
            "date": c.date,
        }
        for c in commits
    ]


# -- model listings --------------------------------------------------------------------------


class ModelSort(enum.Enum):
    """The ``sort`` keys of ``GET /api/models`` a mirror can honour."""

    ID = "id"
    DOWNLOADS = "downloads"
    LIKES = "likes"
    TRENDING = "trendingScore"
    LAST_MODIFIED = "lastModified"
    CREATED_AT = "createdAt"

    @classmethod
    def parse(cls, text: str | None) -> ModelSort:
        """The sort a query names (huggingface_hub's spellings too); ``ID`` when unknown."""
        aliases = {"last_modified": "lastModified", "created_at": "createdAt"}
        aliases["trending_score"] = "trendingScore"
        try:
            return cls(aliases.get(text or "", text or "id"))
        except ValueError:
            return cls.ID


@attrs.frozen
class ListingQuery:
    """``GET /api/models?search=&author=&filter=&sort=&direction=&limit=``, parsed."""

    search: str = ""
    author: str = ""
    filters: tuple[str, ...] = ()
    sort: ModelSort = ModelSort.ID
    descending: bool = True
    limit: int = MAX_PAGE

    @classmethod
    def parse(cls, query: Sequence[tuple[str, str]]) -> ListingQuery:
        """From the query's ``(name, value)`` pairs; ``filter`` may repeat."""
        values = dict(query)
        try:
            limit = int(values.get("limit") or MAX_PAGE)
        except ValueError:
            limit = MAX_PAGE
        return cls(
            search=values.get("search", "").strip(),
            author=values.get("author", "").strip(),
            filters=tuple(v for k, v in query if k == "filter" and v),
            sort=ModelSort.parse(values.get("sort")),
            descending=values.get("direction", "-1") != "1",
            limit=max(1, min(limit, MAX_PAGE)),
        )

    def matches(self, repo_id: str) -> bool:
        """Whether ``repo_id`` passes ``search`` (a substring, any case) and ``author``."""
        if self.search and self.search.lower() not in repo_id.lower():
            return False
        return not self.author or repo_id.partition("/")[0].lower() == self.author.lower()

    def wants(self, tags: Iterable[str]) -> bool:
        """Whether a model with ``tags`` passes every ``filter``."""
        have = {t.lower() for t in tags}
        return all(f.lower() in have for f in self.filters)

    def order(self, summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``summaries`` (listing items) in the order asked for; ties by id."""
        out = sorted(summaries, key=lambda s: str(s.get("id", "")).lower())
        if self.sort is ModelSort.ID:
            return out
        field = self.sort.value
        if self.sort in (ModelSort.LAST_MODIFIED, ModelSort.CREATED_AT):
            return sorted(out, key=lambda s: str(s.get(field) or ""), reverse=self.descending)
        return sorted(out, key=lambda s: float(s.get(field) or 0), reverse=self.descending)
