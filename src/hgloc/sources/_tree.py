"""A repo's file list as the Hub's tree API gives it, as pure functions.

``GET /api/models/{repo}/tree/{revision}?recursive=true`` answers a JSON list
of entries, one page at a time; a ``Link: <url>; rel="next"`` header points at
the next page. No I/O here (see ``tests/test_ranges.py``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import attrs

__all__ = ["TreeEntry", "parse_link_next", "parse_tree_page", "tree_url"]

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?', re.IGNORECASE)


@attrs.frozen
class TreeEntry:
    """One file of a repo at one commit.

    ``oid`` is the git blob id of what git stores: the bytes themselves for a
    regular file, the LFS pointer for an LFS file (whose content hash is then
    ``sha256``). ``path`` is the Hub's word and not yet checked: validate it
    before using it as a key.
    """

    path: str
    size: int
    oid: str
    sha256: str | None = None

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None


def tree_url(endpoint: str, repo_id: str, revision: str) -> str:
    """The recursive tree listing of ``revision`` (fully quoted, as ``resolve_url``).

    >>> tree_url("https://hf.co", "gpt2", "refs/pr/1")
    'https://hf.co/api/models/gpt2/tree/refs%2Fpr%2F1?recursive=true'
    """
    return f"{endpoint}/api/models/{repo_id}/tree/{quote(revision, safe='')}?recursive=true"


def parse_link_next(value: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, or ``None``.

    >>> parse_link_next('<https://hf.co/api/x?cursor=abc>; rel="next"')
    'https://hf.co/api/x?cursor=abc'
    """
    if not value:
        return None
    for match in _LINK.finditer(value):
        target, params = match.groups()
        for rel in _REL_NEXT.findall(params):
            if "next" in rel.lower().split():
                return target.strip() or None
    return None


def parse_tree_page(data: Any, *, what: str) -> list[TreeEntry]:
    """The files of one page of a tree listing (folders are skipped).

    Raises ``ValueError`` naming ``what`` for anything that is not the Hub's shape:
    the listing decides what is written, so nothing malformed is guessed at.
    """
    if not isinstance(data, list):
        raise ValueError(f"{what} is not a JSON list")
    out: list[TreeEntry] = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError(f"{what} holds an entry that is not an object: {item!r:.80}")
        kind = item.get("type")
        if kind == "directory":
            continue
        if kind != "file":
            raise ValueError(f"{what} holds an entry of unknown type {kind!r}")
        out.append(_file_entry(item, what))
    return out


def _file_entry(item: dict[str, Any], what: str) -> TreeEntry:
    path, size, oid = item.get("path"), item.get("size"), item.get("oid")
    if not isinstance(path, str) or not path:
        raise ValueError(f"{what} holds a file without a path")
    if not _is_size(size):
        raise ValueError(f"{what}: {path!r} has no valid size ({size!r})")
    if not isinstance(oid, str) or not _HEX40.match(oid):
        raise ValueError(f"{what}: {path!r} has no valid git oid ({oid!r})")
    lfs = item.get("lfs")
    sha256 = None
    if lfs is not None:
        if not isinstance(lfs, dict):
            raise ValueError(f"{what}: {path!r} has a malformed 'lfs' field")
        sha256, lfs_size = lfs.get("oid"), lfs.get("size", size)
        if not isinstance(sha256, str) or not _HEX64.match(sha256):
            raise ValueError(f"{what}: {path!r} has no valid LFS sha256 ({sha256!r})")
        if not _is_size(lfs_size):
            raise ValueError(f"{what}: {path!r} has no valid LFS size ({lfs_size!r})")
        size = lfs_size  # the object's size; the top-level one is the same on the Hub
    assert isinstance(size, int)
    return TreeEntry(path, size, oid, sha256)


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
