"""Reading a huggingface_hub cache (or a plain folder) into snapshots to check: no hashing here.

Blocking functions: run them in a worker thread. A snapshot lists its files
with the hash each must have: the blob's name (the ETag) for the cache, the
``local_dir`` metadata or a tree listing for a plain folder. What cannot be
read or has no hash to check against is a *problem* of the snapshot.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import attrs

from hgloc.hf_cache._layout import (
    LOCAL_DIR_META,
    TreeFile,
    blob_record,
    is_commit,
    parse_tree,
    repo_id_of,
)
from hgloc.layout import FileRecord

__all__ = ["Snapshot", "SnapshotFile", "scan_cache", "scan_folder"]

logger = logging.getLogger("hgloc")


@attrs.frozen
class SnapshotFile:
    """One file of a snapshot: where its bytes are and what they must be."""

    path: Path  # the bytes (symlinks followed)
    record: FileRecord


@attrs.frozen
class Snapshot:
    """One commit of one repo as a cache or folder holds it."""

    model_id: str
    commit: str
    refs: tuple[str, ...]  # the refs pointing at it (``main``, tags...); empty: none
    files: tuple[SnapshotFile, ...]
    tree: dict[str, TreeFile] | None  # the commit's whole listing, when known
    problems: tuple[str, ...] = ()

    @property
    def missing(self) -> list[str]:
        """Files the tree listing names that the snapshot lacks."""
        if self.tree is None:
            return []
        held = {f.record.repo_path for f in self.files}
        return sorted(set(self.tree) - held)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _refs(repo: Path) -> dict[str, list[str]]:
    """Commit -> the refs naming it (``refs/main``, ``refs/refs/pr/1``...)."""
    out: dict[str, list[str]] = {}
    base = repo / "refs"
    if not base.is_dir():
        return out
    for dirpath, _, names in os.walk(base):
        for name in sorted(names):
            path = Path(dirpath, name)
            commit = _read_text(path)
            if is_commit(commit):
                assert commit is not None
                out.setdefault(commit, []).append(path.relative_to(base).as_posix())
    return out


def _tree(folder: Path, commit: str) -> dict[str, TreeFile] | None:
    try:
        raw = (folder / "trees" / f"{commit}.json").read_bytes()
    except OSError:
        return None
    return parse_tree(raw)


def _walk(root: Path, *, skip: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    out = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d != ".git" and Path(dirpath, d).relative_to(root).as_posix() not in skip
        )
        for name in sorted(names):
            path = Path(dirpath, name)
            out.append((path.relative_to(root).as_posix(), path))
    return out


def _cache_file(
    repo: Path, repo_path: str, path: Path, tree: dict[str, TreeFile] | None
) -> SnapshotFile | str:
    """A snapshot file's bytes and expected hash, or the problem with it."""
    if path.is_symlink():
        first = Path(os.path.abspath(path.parent / os.readlink(path)))
        if first.parent != (repo / "blobs").absolute():
            return f"{repo_path} links outside the repo's blobs ({os.readlink(path)})"
        etag = first.name
        data = Path(os.path.realpath(first))
    else:  # a cache without symlinks (Windows): the tree listing says what it must be
        entry = tree.get(repo_path) if tree is not None else None
        if entry is None:
            return f"{repo_path} is a copy, not a blob link, and no tree listing gives its hash"
        etag, data = entry.etag, path
    try:
        size = data.stat().st_size
    except OSError:
        return f"{repo_path}: its blob {etag} is missing"
    record = blob_record(repo_path, size, etag)
    if record is None:
        return f"{repo_path}: its blob name {etag!r} is no sha256 or git sha1"
    if tree is not None and repo_path in tree and tree[repo_path].etag != etag:
        return f"{repo_path}: the tree listing names blob {tree[repo_path].etag}, not {etag}"
    return SnapshotFile(data, record)


def scan_cache(root: Path) -> list[Snapshot]:
    """Every snapshot of every model repo in the cache at ``root``."""
    found: list[Snapshot] = []
    for repo in sorted(root.iterdir()) if root.is_dir() else []:
        model_id = repo_id_of(repo.name)
        snapshots = repo / "snapshots"
        if model_id is None or not snapshots.is_dir():
            continue
        refs = _refs(repo)
        for folder in sorted(snapshots.iterdir()):
            if not is_commit(folder.name) or not folder.is_dir():
                continue
            commit = folder.name
            tree = _tree(repo, commit)
            files: list[SnapshotFile] = []
            problems: list[str] = []
            for repo_path, path in _walk(folder):
                got = _cache_file(repo, repo_path, path, tree)
                if isinstance(got, str):
                    problems.append(got)
                else:
                    files.append(got)
            found.append(
                Snapshot(
                    model_id, commit, tuple(refs.get(commit, ())), tuple(files), tree,
                    tuple(problems),
                )
            )  # fmt: skip
    return found


def scan_folder(
    root: Path, model_id: str, commit: str, hub_tree: dict[str, TreeFile] | None
) -> Snapshot:
    """A plain folder holding ``model_id`` at ``commit``: hashes from its ``local_dir``
    metadata (``hf download --local-dir``, ``hgloc export --format dir``), else from
    ``hub_tree`` (the Hub's listing at that commit)."""
    meta = root / LOCAL_DIR_META
    tree = _tree(meta, commit) or hub_tree
    files: list[SnapshotFile] = []
    problems: list[str] = []
    for repo_path, path in _walk(root, skip=(LOCAL_DIR_META,)):
        etag = None
        lines = (_read_text(meta / "download" / f"{repo_path}.metadata") or "").splitlines()
        if len(lines) >= 2 and lines[0] == commit:
            etag = lines[1]
        elif tree is not None and repo_path in tree:
            etag = tree[repo_path].etag
        if etag is None:
            if tree is None:
                problems.append(f"{repo_path}: no hash known for it at {commit}")
            else:  # not a file of the repo at that commit (a local addition): not adopted
                logger.warning("%s: not in %s at %s, left out", path, model_id, commit)
            continue
        record = blob_record(repo_path, path.stat().st_size, etag)
        if record is None:
            problems.append(f"{repo_path}: its recorded hash {etag!r} is no sha256 or git sha1")
            continue
        files.append(SnapshotFile(path, record))
    return Snapshot(model_id, commit, (), tuple(files), tree, tuple(problems))
