"""Hashes the Hub derives from a file's bytes, and a file as the Hub describes it."""

from __future__ import annotations

import hashlib

import attrs

__all__ = ["WireFile", "git_blob_sha1", "lfs_pointer"]


def git_blob_sha1(data: bytes) -> str:
    """The git blob id of ``data``: what the Hub sends as ``ETag`` for regular files.

    >>> git_blob_sha1(b"")
    'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    from huggingface_hub.utils.sha import git_hash

    return git_hash(data)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores in place of an LFS file (its blob id is the oid)."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


@attrs.frozen
class WireFile:
    """One file of a repo at a commit, as the Hub describes it.

    ``sha1`` is the git blob sha1 of the bytes (regular files); ``sha256`` is
    set for LFS files only. ``oid`` (derived) is the blob id of what git
    stores: the bytes, or the LFS pointer.
    """

    path: str
    size: int
    sha1: str | None = None
    sha256: str | None = None
    oid: str = attrs.field(init=False, eq=False, repr=False)

    @oid.default
    def _oid(self) -> str:
        if self.sha256 is not None:
            return git_blob_sha1(lfs_pointer(self.sha256, self.size))
        return self.sha1 or ""

    @classmethod
    def of(cls, path: str, data: bytes, *, lfs: bool) -> WireFile:
        """The description of ``data`` stored at ``path`` (hashed here)."""
        if lfs:
            return cls(path, len(data), sha256=hashlib.sha256(data).hexdigest())
        return cls(path, len(data), sha1=git_blob_sha1(data))

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None

    @property
    def etag(self) -> str:
        """The content hash a client checks: sha256 for LFS, git blob sha1 otherwise."""
        return self.sha256 or self.sha1 or ""

    @property
    def pointer_size(self) -> int | None:
        return None if self.sha256 is None else len(lfs_pointer(self.sha256, self.size))
