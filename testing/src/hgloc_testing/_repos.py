"""Repositories served by the Hub emulator: files per commit, refs, and the hashes the Hub derives.

A :class:`Repo` is plain data (commits as ``{path: bytes}`` snapshots, branches
and tags pointing at commit indexes) plus lazily cached facts computed the way
the Hub computes them: git blob ids, LFS pointers and sha256, commit shas.
Nothing here knows about HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeAlias

import attrs

from hgloc.hub_wire import WireFile, git_blob_sha1, lfs_pointer

__all__ = [
    "DEFAULT_LFS_EXTENSIONS",
    "DEFAULT_LFS_THRESHOLD",
    "DEFAULT_UNGATED_PATHS",
    "FileEntry",
    "Gated",
    "Repo",
    "git_blob_sha1",
    "lfs_pointer",
]

Gated: TypeAlias = Literal[False, "auto", "manual"]

DEFAULT_LFS_EXTENSIONS = frozenset(
    {".safetensors", ".bin", ".pt", ".h5", ".onnx", ".msgpack", ".gguf"}
)
DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024
# The Hub keeps cards and licenses of gated repos public (users must read the terms before
# asking for access); every other file answers GatedRepo.
DEFAULT_UNGATED_PATHS = frozenset({"README.md", "LICENSE", "LICENSE.md", "LICENSE.txt"})
# The Hub started recording creation dates on this day; older repos all carry it.
_EPOCH = dt.datetime(2022, 3, 2, 23, 29, 4, tzinfo=dt.UTC)
_HEX40 = re.compile(r"[0-9a-f]{40}")


@attrs.frozen
class FileEntry:
    """One file at one commit, with the ids the Hub reports for it (``wire``).

    ``oid`` is the git blob id of what git stores: the bytes themselves, or the LFS
    pointer for LFS files (as in the Hub's tree listing). ``sha256`` and
    ``pointer_size`` are set for LFS files only.
    """

    path: str
    data: bytes = attrs.field(repr=False)
    wire: WireFile

    @property
    def oid(self) -> str:
        return self.wire.oid

    @property
    def sha256(self) -> str | None:
        return self.wire.sha256

    @property
    def pointer_size(self) -> int | None:
        return self.wire.pointer_size

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def is_lfs(self) -> bool:
        return self.wire.is_lfs

    @property
    def etag(self) -> str:
        """The content hash a client checks: sha256 for LFS, git blob sha1 otherwise."""
        return self.wire.etag


def _snapshot(files: Mapping[str, bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path, data in files.items():
        if not isinstance(data, bytes):
            raise TypeError(f"file {path!r} must be bytes, got {type(data).__name__}")
        clean = path.strip("/")
        if not clean or any(part in ("", ".", "..") for part in clean.split("/")):
            raise ValueError(f"invalid repo path: {path!r}")
        out[clean] = data
    return out


def _commits(value: object) -> list[dict[str, bytes]]:
    if isinstance(value, Mapping):  # a single snapshot is a one-commit history
        return [_snapshot(value)]
    if not isinstance(value, list | tuple):
        raise TypeError("commits must be a list of {path: bytes} dicts")
    commits = [_snapshot(c) for c in value]
    if not commits:
        commits.append({})
    return commits


@attrs.define(eq=False)
class Repo:
    """A model repository: a linear history of full snapshots plus refs and Hub metadata.

    ``commits`` are full snapshots, oldest first (``{path: bytes}``; a single dict is a
    one-commit history). ``branches`` and ``tags`` map a ref name to a commit index;
    ``branches`` defaults to ``{"main": <last commit>}``. Pull-request refs are branches
    named ``refs/pr/N``. Use :meth:`push` to add commits so cached shas stay valid.
    """

    repo_id: str
    commits: list[dict[str, bytes]] = attrs.field(factory=lambda: [{}], converter=_commits)
    default_branch: str = attrs.field(default="main", kw_only=True)
    branches: dict[str, int] = attrs.field(kw_only=True)
    tags: dict[str, int] = attrs.field(factory=dict, kw_only=True)
    gated: Gated = attrs.field(default=False, kw_only=True)
    private: bool = attrs.field(default=False, kw_only=True)
    pipeline_tag: str | None = attrs.field(default=None, kw_only=True)
    library_name: str | None = attrs.field(default=None, kw_only=True)
    model_tags: tuple[str, ...] = attrs.field(default=(), converter=tuple, kw_only=True)
    downloads: int = attrs.field(default=0, kw_only=True)
    likes: int = attrs.field(default=0, kw_only=True)
    created_at: dt.datetime = attrs.field(default=_EPOCH, kw_only=True)
    lfs_extensions: frozenset[str] = attrs.field(
        default=DEFAULT_LFS_EXTENSIONS, converter=frozenset, kw_only=True
    )
    lfs_threshold: int = attrs.field(default=DEFAULT_LFS_THRESHOLD, kw_only=True)
    ungated_paths: frozenset[str] = attrs.field(
        default=DEFAULT_UNGATED_PATHS, converter=frozenset, kw_only=True
    )
    _shas: list[str] = attrs.field(factory=list, init=False, repr=False)
    _sha_index: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)
    _entries: dict[tuple[str, bytes], FileEntry] = attrs.field(factory=dict, init=False, repr=False)

    @branches.default
    def _default_branches(self) -> dict[str, int]:
        return {self.default_branch: len(self.commits) - 1}

    def __attrs_post_init__(self) -> None:
        if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", self.repo_id):
            raise ValueError(f"invalid repo id: {self.repo_id!r}")
        last = len(self.commits) - 1
        for name, index in (*self.branches.items(), *self.tags.items()):
            if not 0 <= index <= last:
                raise ValueError(f"ref {name!r} points at commit {index}, have 0..{last}")
        if self.default_branch not in self.branches:
            raise ValueError(f"default branch {self.default_branch!r} not in branches")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_folder(cls, repo_id: str, path: str | os.PathLike[str], **kwargs: Any) -> Repo:
        """A one-commit repo holding every file under ``path`` (``.git`` folders skipped).

        Extra keyword arguments are passed to the constructor (``gated=``, ``tags=``...).
        """
        root = Path(path)
        files: dict[str, bytes] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(filenames):
                full = Path(dirpath, name)
                files[full.relative_to(root).as_posix()] = full.read_bytes()
        return cls(repo_id, [files], **kwargs)

    # -- refs and commits ---------------------------------------------------------------------

    @property
    def namespace(self) -> str | None:
        """The user or organization owning the repo; ``None`` for legacy ids like ``gpt2``."""
        return self.repo_id.split("/")[0] if "/" in self.repo_id else None

    def head(self, branch: str | None = None) -> int:
        """Commit index a branch points at (the default branch if ``None``)."""
        return self.branches[branch or self.default_branch]

    def commit_sha(self, index: int) -> str:
        """Deterministic 40-hex sha of commit ``index`` (content, parent and repo id)."""
        while len(self._shas) <= index:
            i = len(self._shas)
            h = hashlib.sha1(usedforsecurity=False)
            h.update(f"{self.repo_id}\0{self._shas[-1] if i else ''}\0{i}\n".encode())
            for entry in self.entries(i):
                h.update(f"{entry.path}\0{entry.oid}\n".encode())
            sha = h.hexdigest()
            self._shas.append(sha)
            self._sha_index[sha] = i
        return self._shas[index]

    def resolve(self, revision: str | None) -> int | None:
        """Commit index for a branch, tag or full commit sha; ``None`` if unknown."""
        if revision is None:
            return self.head()
        index = self.branches.get(revision)
        if index is None:
            index = self.tags.get(revision)
        if index is None and _HEX40.fullmatch(revision):
            self.commit_sha(len(self.commits) - 1)  # fill the sha index
            index = self._sha_index.get(revision)
        return index

    def push(self, files: Mapping[str, bytes | None], branch: str | None = None) -> str:
        """Commit ``files`` on top of ``branch`` (``None`` values delete) and move it.

        A new branch starts from the default branch's head. Returns the new commit sha.
        """
        branch = branch or self.default_branch
        base = self.branches.get(branch, self.head())
        snapshot = dict(self.commits[base])
        for path, data in files.items():
            if data is None:
                snapshot.pop(path.strip("/"), None)
            else:
                snapshot.update(_snapshot({path: data}))
        self.commits.append(snapshot)
        self.branches[branch] = len(self.commits) - 1
        return self.commit_sha(len(self.commits) - 1)

    def last_modified(self, index: int) -> dt.datetime:
        """Commit date: one hour per commit after ``created_at`` (deterministic)."""
        return self.created_at + dt.timedelta(hours=index)

    # -- files ----------------------------------------------------------------------------------

    def is_lfs(self, path: str, size: int) -> bool:
        """Whether the Hub would store this file with git-lfs."""
        return size > self.lfs_threshold or os.path.splitext(path)[1].lower() in self.lfs_extensions

    def entry(self, index: int, path: str) -> FileEntry | None:
        """The file at ``path`` in commit ``index``, hashes computed once per content."""
        data = self.commits[index].get(path)
        if data is None:
            return None
        key = (path, data)
        found = self._entries.get(key)
        if found is None:
            wire = WireFile.of(path, data, lfs=self.is_lfs(path, len(data)))
            found = self._entries[key] = FileEntry(path, data, wire)
        return found

    def entries(self, index: int) -> Iterator[FileEntry]:
        """Every file of commit ``index``, sorted by path."""
        for path in sorted(self.commits[index]):
            entry = self.entry(index, path)
            assert entry is not None
            yield entry
