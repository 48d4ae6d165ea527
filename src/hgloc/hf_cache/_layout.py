"""huggingface_hub's cache layout as pure names and paths: no I/O.

As ``huggingface_hub`` 2.x writes it (``file_download.py``, ``_tree_cache.py``)::

    <cache>/models--{org}--{name}/
        blobs/{etag}                      the bytes; etag = sha256 (LFS) or git blob sha1
        refs/{branch or tag}              the commit the ref pointed at, no newline
        snapshots/{commit}/{repo path}    relative symlink to ../../blobs/{etag} (deeper: more ../)
        trees/{commit}.json               the commit's whole file list: the snapshot is complete
                                          when every file it names is there

A plain folder (``hf download --local-dir``) keeps its bookkeeping under
``.cache/huggingface/``: ``download/{path}.metadata`` (commit, etag, time, one a
line) and ``trees/{commit}.json``.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

import attrs

from hgloc.backends import validate_key
from hgloc.hub_wire import git_blob_sha1, lfs_pointer
from hgloc.layout import FileRecord, safe_name, validate_model_id

__all__ = [
    "DEFAULT_REF",
    "LOCAL_DIR_META",
    "TREE_FORMAT_VERSION",
    "TreeFile",
    "blob_name",
    "blob_record",
    "checked_repo_path",
    "is_commit",
    "link_target",
    "parse_tree",
    "plain_folder",
    "ref_for",
    "repo_folder",
    "repo_id_of",
    "revision_for_ref",
    "tree_json",
]

DEFAULT_REF = "main"  # huggingface_hub's default revision (constants.DEFAULT_REVISION)
TREE_FORMAT_VERSION = 1
LOCAL_DIR_META = ".cache/huggingface"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_commit(text: str | None) -> bool:
    """Whether ``text`` is a full 40-hex commit id (as huggingface_hub's ``REGEX_COMMIT_HASH``).

    >>> is_commit("a" * 40), is_commit("main")
    (True, False)
    """
    return text is not None and bool(_COMMIT.fullmatch(text))


def repo_folder(model_id: str) -> str:
    """The folder of a model repo in the cache (``repo_folder_name``).

    >>> repo_folder("openai-community/gpt2"), repo_folder("gpt2")
    ('models--openai-community--gpt2', 'models--gpt2')
    """
    return "--".join(["models", *validate_model_id(model_id).split("/")])


def repo_id_of(folder: str) -> str | None:
    """The model id a cache folder holds, or ``None`` for anything but a model repo.

    >>> repo_id_of("models--openai-community--gpt2"), repo_id_of("datasets--x--y")
    ('openai-community/gpt2', None)
    """
    kind, sep, rest = folder.partition("--")
    if kind != "models" or not sep:
        return None
    try:
        return validate_model_id(rest.replace("--", "/"))
    except ValueError:
        return None


def ref_for(revision: str | None, commit: str) -> str | None:
    """The ref file to write for a stored revision: ``main`` for the default branch,
    the branch or tag name otherwise, ``None`` for a revision that is a commit.

    >>> ref_for(None, "a" * 40), ref_for("v1.0", "a" * 40), ref_for("a" * 40, "a" * 40)
    ('main', 'v1.0', None)
    """
    if revision is None:
        return DEFAULT_REF
    if is_commit(revision):
        return None
    return revision


def revision_for_ref(ref: str) -> str | None:
    """The store's revision for a cache ref: ``None`` (default branch) for ``main``.

    >>> revision_for_ref("main"), revision_for_ref("refs/pr/1")
    (None, 'refs/pr/1')
    """
    return None if ref == DEFAULT_REF else ref


def blob_name(record: FileRecord) -> str | None:
    """The blob a stored file is in the cache: its ETag (sha256 for LFS, else git sha1).

    >>> blob_name(FileRecord("config.json", 2, sha1="b" * 40))
    'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
    """
    return record.sha256 or record.sha1


def blob_record(repo_path: str, size: int, etag: str) -> FileRecord | None:
    """The record a blob named ``etag`` stands for, ``None`` if the name is no hash.

    >>> blob_record("model.bin", 3, "c" * 64).sha256 == "c" * 64
    True
    """
    if _SHA256.fullmatch(etag):
        return FileRecord(repo_path, size, None, etag)
    if _COMMIT.fullmatch(etag):
        return FileRecord(repo_path, size, etag, None)
    return None


def link_target(repo_path: str, etag: str) -> str:
    """The relative symlink from ``snapshots/{commit}/{repo_path}`` to its blob.

    What ``_create_symlink`` makes (``os.path.relpath`` of the blob from the link's folder):

    >>> link_target("config.json", "ab"), link_target("a/b/c.txt", "ab")
    ('../../blobs/ab', '../../../../blobs/ab')
    """
    depth = repo_path.count("/")
    return "../" * (2 + depth) + "blobs/" + etag


def checked_repo_path(repo_path: str) -> str:
    """``repo_path`` if it is a clean relative path (no ``..``, not absolute), else ValueError."""
    validate_key(repo_path)
    if posixpath.normpath(repo_path) != repo_path:
        raise ValueError(f"repo path {repo_path!r} is not a clean relative path")
    return repo_path


def plain_folder(model_id: str, revision: str | None) -> str:
    """Where a ``dir`` export puts a model: ``org/name``, ``org/name@rev`` for a revision.

    >>> plain_folder("org/name", None), plain_folder("org/name", "refs/pr/1")
    ('org/name', 'org/name@refs_pr_1')
    """
    folder = validate_model_id(model_id)
    return folder if revision is None else f"{folder}@{safe_name(revision)}"


@attrs.frozen
class TreeFile:
    """One file of a cached tree listing (``TreeCacheEntry``)."""

    path: str
    size: int
    blob_id: str  # git blob id (of the LFS pointer, for LFS files)
    lfs_sha256: str | None = None

    @property
    def etag(self) -> str:
        """The blob name a download of this file gets."""
        return self.lfs_sha256 or self.blob_id

    @classmethod
    def of(cls, record: FileRecord) -> TreeFile:
        """The listing's entry for a stored file; an LFS file's blob id is its pointer's."""
        if record.sha256:
            pointer = lfs_pointer(record.sha256, record.size)
            return cls(record.repo_path, record.size, git_blob_sha1(pointer), record.sha256)
        if not record.sha1:
            raise ValueError(f"{record.repo_path!r} has no recorded hash")
        return cls(record.repo_path, record.size, record.sha1, None)

    def record(self) -> FileRecord:
        """The store's record of the file (LFS by sha256, others by git sha1)."""
        if self.lfs_sha256:
            return FileRecord(self.path, self.size, None, self.lfs_sha256)
        return FileRecord(self.path, self.size, self.blob_id, None)


def tree_json(files: Mapping[str, TreeFile]) -> bytes:
    """``trees/{commit}.json`` for a commit's files, as ``write_tree_cache`` writes it."""
    out: dict[str, Any] = {}
    for path in sorted(files):
        entry = files[path]
        info: dict[str, Any] = {"size": entry.size, "blob_id": entry.blob_id}
        if entry.lfs_sha256 is not None:
            info["lfs_sha256"] = entry.lfs_sha256
            info["lfs_size"] = entry.size
        out[path] = info
    return json.dumps({"format_version": TREE_FORMAT_VERSION, "files": out}, indent=1).encode()


def parse_tree(raw: bytes) -> dict[str, TreeFile] | None:
    """A tree listing's files, ``None`` when it is not one this version reads."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format_version") != TREE_FORMAT_VERSION:
            return None
        return {
            str(path): TreeFile(
                str(path), int(info["size"]), str(info["blob_id"]), info.get("lfs_sha256")
            )
            for path, info in data["files"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
