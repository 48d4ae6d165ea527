"""A repo's files as folders: tree listings and paths-info entries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from hgloc.hub_wire._hashes import WireFile

__all__ = ["Folders", "paths_info", "tree_listing"]


class Folders:
    """The folders implied by a repo's file paths, with a stable ``oid`` for each.

    A folder's ``oid`` is a hash of what it holds (not git's tree id, which
    needs file modes).
    """

    def __init__(self, files: Mapping[str, WireFile]) -> None:
        self.files = files
        self.children: dict[str, set[str]] = {"": set()}
        for file_path in files:
            child = file_path
            parent = child.rpartition("/")[0]
            while True:
                known = parent in self.children
                self.children.setdefault(parent, set()).add(child)
                if known or not parent:
                    break
                child, parent = parent, parent.rpartition("/")[0]
        self._oids: dict[str, str] = {}

    def oid(self, entry: str) -> str:
        if entry in self.files:
            return self.files[entry].oid
        if entry not in self._oids:
            h = hashlib.sha1(b"tree\0", usedforsecurity=False)
            for kid in sorted(self.children[entry]):
                h.update(f"{kid.rpartition('/')[2]}\0{self.oid(kid)}\n".encode())
            self._oids[entry] = h.hexdigest()
        return self._oids[entry]

    def entry(self, path: str) -> dict[str, Any] | None:
        """The Hub's entry for a file or a folder (never ``xetHash``); ``None`` if neither."""
        if path in self.children and path:
            return {"type": "directory", "oid": self.oid(path), "size": 0, "path": path}
        file = self.files.get(path)
        if file is None:
            return None
        item: dict[str, Any] = {"type": "file", "oid": file.oid, "size": file.size, "path": path}
        if file.sha256 is not None:
            item["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": file.pointer_size}
        return item


def tree_listing(
    files: Mapping[str, WireFile], path: str, *, recursive: bool
) -> list[dict[str, Any]] | None:
    """The entries of ``GET /api/models/{id}/tree/{rev}/{path}``; ``None`` if no such folder.

    Folders come first, then files, as on the Hub (recursive listings are
    sorted by path).
    """
    tree = Folders(files)
    folder = path.strip("/")
    if folder not in tree.children:
        return None
    if recursive:
        entries: list[str] = []
        stack = [folder]
        while stack:
            for kid in tree.children[stack.pop()]:
                entries.append(kid)
                if kid in tree.children:
                    stack.append(kid)
        entries.sort()
    else:
        kids = tree.children[folder]
        entries = sorted(k for k in kids if k in tree.children) + sorted(
            k for k in kids if k not in tree.children
        )
    return [item for entry in entries if (item := tree.entry(entry)) is not None]


def paths_info(files: Mapping[str, WireFile], paths: Iterable[str]) -> list[dict[str, Any]]:
    """The body of ``POST /api/models/{id}/paths-info/{rev}``: an entry per path that exists.

    Paths that name nothing are left out, as the Hub does; each path answers once.

    >>> f = WireFile("a/b.txt", 1, sha1="0" * 40)
    >>> [e["type"] for e in paths_info({"a/b.txt": f}, ["a", "a/b.txt", "nope", "a"])]
    ['directory', 'file']
    """
    tree = Folders(files)
    out = []
    for path in dict.fromkeys(p.strip("/") for p in paths):
        item = tree.entry(path)
        if item is not None:
            out.append(item)
    return out
