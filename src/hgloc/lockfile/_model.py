"""A lock file as data: which commit of each model, and every stored file's size and hash.

Pure values and their TOML (read with the standard library's ``tomllib``,
written with ``tomli_w``); the format is documented in
``docs/versions-and-collections.md``::

    version = 1

    [[models]]
    id = "openai-community/gpt2"
    revision = "main"              # as asked; absent: the default branch
    commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
    full = false

    [[models.files]]
    path = "README.md"
    size = 8036
    git_oid = "..."                # regular files: the git blob id; LFS files: sha256
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from hgloc.errors import HglocError, InvalidModelIdError, MissingExtraError
from hgloc.layout import (
    CARD_FILE,
    CONFIG_FILE,
    FileRecord,
    ModelRecord,
    validate_model_id,
    validate_revision,
)

__all__ = ["DEFAULT_LOCK_FILE", "LockFile", "LockFileError", "LockedFile", "LockedModel"]

DEFAULT_LOCK_FILE = "hgloc.lockfile"
FORMAT_VERSION = 1
_HEX = frozenset("0123456789abcdef")


class LockFileError(HglocError, ValueError):
    """A lock file that cannot be read: bad TOML, a missing key, a malformed hash."""


def _is_hex(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= _HEX


@attrs.frozen
class LockedFile:
    """One file of a locked model: its repo path, size, and sha256 (LFS) or git blob id."""

    path: str
    size: int
    sha256: str | None = None
    git_oid: str | None = None

    @classmethod
    def from_record(cls, record: FileRecord) -> LockedFile:
        return cls(
            record.repo_path, record.size, record.sha256, None if record.sha256 else record.sha1
        )

    def matches(self, record: FileRecord | None) -> bool:
        """Whether a stored file's metadata says it holds exactly these bytes."""
        if record is None or record.repo_path != self.path or record.size != self.size:
            return False
        if self.sha256 is not None:
            return record.sha256 == self.sha256
        return record.sha1 == self.git_oid

    def as_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        else:
            out["git_oid"] = self.git_oid
        return out

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> LockedFile:
        path, size = data["path"], data["size"]
        sha256, oid = data.get("sha256"), data.get("git_oid")
        if not isinstance(path, str) or not path or not isinstance(size, int) or size < 0:
            raise ValueError(f"file entry {dict(data)!r} needs a path and a size")
        if not (_is_hex(sha256, 64) or (sha256 is None and _is_hex(oid, 40))):
            raise ValueError(f"file {path!r} needs a sha256 (64 hex) or a git_oid (40 hex)")
        return cls(path, size, sha256, None if sha256 else oid)


def _tuple_of_files(files: Iterable[LockedFile]) -> tuple[LockedFile, ...]:
    return tuple(files)


@attrs.frozen
class LockedModel:
    """One model pinned at one commit, with the files the store held of it."""

    model_id: str
    revision: str | None
    commit: str
    full: bool
    files: tuple[LockedFile, ...] = attrs.field(converter=_tuple_of_files)

    @property
    def label(self) -> str:
        return self.model_id if self.revision is None else f"{self.model_id}@{self.revision}"

    @classmethod
    def from_record(cls, record: ModelRecord) -> LockedModel:
        """The lock entry of a stored model; ``ValueError`` when it records no commit."""
        if not _is_hex(record.commit, 40):
            where = (
                record.model_id
                if record.revision is None
                else f"{record.model_id}@{record.revision}"
            )
            raise ValueError(
                f"{where}: the store records no commit for it (a copy read from a public "
                "manifest?); fetch it from the Hub or the bucket first"
            )
        assert record.commit is not None
        files = sorted(
            (LockedFile.from_record(f) for f in record.files.values()), key=lambda f: f.path
        )
        # Full: fetched as a full model, even if patterns kept it to some of the repo's files.
        full = record.is_full_model or bool(record.files.keys() - {CARD_FILE, CONFIG_FILE})
        return cls(record.model_id, record.revision, record.commit, full, files)

    def differences(self, record: ModelRecord | None) -> list[str]:
        """What a stored model's metadata says that the lock does not (empty: it matches)."""
        if record is None:
            return ["not in the store"]
        problems = []
        if record.commit != self.commit:
            problems.append(f"the store holds commit {record.commit}, the lock {self.commit}")
        by_path = {f.repo_path: f for f in record.files.values()}
        for file in self.files:
            held = by_path.get(file.path)
            if held is None:
                problems.append(f"{file.path}: not stored")
            elif not file.matches(held):
                problems.append(f"{file.path}: stored size or hash differs from the lock")
        return problems

    def as_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.model_id}
        if self.revision is not None:
            out["revision"] = self.revision
        out["commit"] = self.commit
        out["full"] = self.full
        out["files"] = [f.as_toml() for f in self.files]
        return out

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> LockedModel:
        model_id = validate_model_id(data["id"])
        revision = validate_revision(data.get("revision"))
        commit = data["commit"]
        if not _is_hex(commit, 40):
            raise ValueError(f"{model_id}: commit {commit!r} is not 40 hex digits")
        full = data.get("full", False)
        if not isinstance(full, bool):
            raise ValueError(f"{model_id}: full must be true or false")
        files = data.get("files", [])
        if not isinstance(files, list):
            raise ValueError(f"{model_id}: files must be an array of tables")
        return cls(model_id, revision, commit, full, [LockedFile.from_toml(f) for f in files])


def _tuple_of_models(models: Iterable[LockedModel]) -> tuple[LockedModel, ...]:
    return tuple(models)


@attrs.frozen
class LockFile:
    """Every locked model, in the order they were asked for."""

    models: tuple[LockedModel, ...] = attrs.field(converter=_tuple_of_models)

    def dumps(self) -> str:
        """The TOML text (needs ``tomli_w``)."""
        try:
            import tomli_w  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:  # a dependency; absent only in a broken install
            raise MissingExtraError(
                "writing a lock file needs tomli_w: pip install tomli-w"
            ) from exc
        header = (
            "# hgloc lock file: the exact commit and bytes of each model.\n"
            "# Format: docs/versions-and-collections.md\n"
        )
        body = {"version": FORMAT_VERSION, "models": [m.as_toml() for m in self.models]}
        return header + str(tomli_w.dumps(body))

    @classmethod
    def loads(cls, text: str, *, where: str = "the lock file") -> LockFile:
        """Parse lock file text; :class:`LockFileError` names what is wrong."""
        try:
            data = tomllib.loads(text)
            version = data.get("version", FORMAT_VERSION)
            if version != FORMAT_VERSION:
                raise ValueError(
                    f"version {version!r} is not one this hgloc reads ({FORMAT_VERSION})"
                )
            models = data.get("models", [])
            if not isinstance(models, list):
                raise ValueError("models must be an array of tables ([[models]])")
            return cls([LockedModel.from_toml(m) for m in models])
        except InvalidModelIdError as exc:
            raise LockFileError(f"{where}: {exc}") from exc
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise LockFileError(f"{where} is not a valid hgloc lock file: {what}") from exc

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> LockFile:
        """Read and parse a lock file."""
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise LockFileError(f"cannot read lock file {os.fspath(path)}: {exc}") from exc
        return cls.loads(text, where=os.fspath(path))

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the lock file (replacing it whole: a reader never sees half of it)."""
        target = os.fspath(path)
        tmp = f"{target}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(self.dumps())
        os.replace(tmp, target)

    @classmethod
    def of(cls, models: Iterable[LockedModel]) -> LockFile:
        return cls(tuple(models))
