"""Where a model's files live inside a store, and what its metadata file says.

Pure functions, no I/O: the HG-Localization layout (see
``docs/design.md``), so stores and buckets written by either tool stay
readable by the other::

    <root>/<safe id>/<safe rev>/                        no bucket configured
    <root>/by_bucket/<bucket id>/<safe id>/<safe rev>/  bucket configured
    <root>/public/...                                   models read from the public manifest
    bucket: {prefix}/models/{safe id}/{safe rev}/{file}

The names hgloc keeps at a store's root (:data:`RESERVED_ROOT_NAMES`) never hold
a model: ``by_bucket`` at revision ``team`` would write into bucket ``team``'s
models. Such ids (``by_bucket``, ``public``, ``by/bucket``...) are refused at the
root with :class:`InvalidModelIdError`, as HG-Localization's layout cannot tell
them apart either; under a bucket's folder they are stored as usual.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from hgloc.backends._keys import validate_key
from hgloc.errors import IndexCorruptError, InvalidModelIdError

__all__ = [
    "CARD_FILE",
    "COLLECTIONS_FOLDER",
    "CONFIG_FILE",
    "HASHES_LOCAL",
    "HASHES_RECEIVED",
    "METADATA_FILE",
    "RESERVED_ROOT_NAMES",
    "TOKENIZER_FILES",
    "FileRecord",
    "ModelRecord",
    "bucket_id",
    "bucket_model_prefix",
    "local_model_prefix",
    "safe_name",
    "validate_model_id",
    "validate_revision",
]

CARD_FILE = "model_card.md"
CONFIG_FILE = "config.json"
METADATA_FILE = ".hg_localization_bucket_metadata.json"
CARD_REPO_PATH = "README.md"
# A folder holds a tokenizer when it has one of these (HG-Localization's rule).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
HASHES_LOCAL = "local"  # ModelRecord.hashes_source: hashed from the stored bytes, not the Hub's
# ModelRecord.hashes_source: a file came without an ETag; its hash is of the bytes received.
HASHES_RECEIVED = "received"
# Reserved names in a store root: never a model folder (a model id cannot start with '.').
COLLECTIONS_FOLDER = ".hgloc-collections"

_UNSAFE = re.compile(r'[/\\:*?"<>| ]')
# The Hub's own rule for a repo name, ASCII only: look-alike letters from other
# scripts are refused rather than silently mapped to another repo. Used with
# fullmatch: a "$" would let a trailing newline through.
_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
_MAX_REVISION = 255
# Folders at a store's root that belong to hgloc (compared ignoring case: some filesystems
# do). Names starting with '.' (staging '.hgloc-partial') cannot be model folders anyway.
RESERVED_ROOT_NAMES = frozenset({"by_bucket", "public", ".hgloc-partial"})


def safe_name(name: str) -> str:
    """HG-Localization's folder name for an id or revision.

    >>> safe_name("microsoft/DialoGPT-medium")
    'microsoft_DialoGPT-medium'
    """
    return _UNSAFE.sub("_", name)


def validate_model_id(model_id: str) -> str:
    """Return ``model_id`` if it can name a Hub repo, else raise ``InvalidModelIdError``.

    Accepted: ``name`` (legacy, e.g. ``gpt2``) or ``org/name``, each part ASCII
    letters, digits, ``-``, ``_``, ``.``, at most 96 characters, with no ``--``
    or ``..``.

    >>> validate_model_id("openai-community/gpt2")
    'openai-community/gpt2'
    """
    if not isinstance(model_id, str):
        raise InvalidModelIdError(f"model id must be a string, got {type(model_id).__name__}")
    shown = model_id if len(model_id) <= 80 else model_id[:77] + "..."
    parts = model_id.split("/")
    if (
        not model_id
        or len(parts) > 2
        or not all(_REPO_PART.fullmatch(p) for p in parts)
        or any("--" in p or ".." in p for p in parts)
    ):
        raise InvalidModelIdError(
            f"invalid model id {shown!r}: use 'name' or 'org/name' as on the Hub "
            "(ASCII letters, digits, '-', '_', '.'; at most 96 characters a part)"
        )
    return model_id


def validate_revision(revision: str | None) -> str | None:
    """Return ``revision`` (a branch, tag, ``refs/pr/N`` or commit) if safe to use.

    ``None`` means the repo's default branch.

    >>> validate_revision("refs/pr/1")
    'refs/pr/1'
    """
    if revision is None:
        return None
    if not isinstance(revision, str):
        raise InvalidModelIdError(f"revision must be a string, got {type(revision).__name__}")
    shown = revision if len(revision) <= 80 else revision[:77] + "..."
    bad = (
        not revision
        or len(revision) > _MAX_REVISION
        or any(ord(c) < 33 or ord(c) == 127 or c in "\\~^:?*[" for c in revision)
        or not revision.isascii()
        or revision.startswith(("/", "-", "."))
        or revision.endswith(("/", ".", ".lock"))
        or ".." in revision
        or "//" in revision
        or "@{" in revision
    )
    if bad:
        raise InvalidModelIdError(
            f"invalid revision {shown!r}: use a branch or tag name, 'refs/pr/N', "
            "or a 40-character commit hash"
        )
    return revision


def bucket_id(bucket: str, endpoint_url: str | None) -> str:
    """The folder that keeps one bucket's models apart from another's.

    >>> bucket_id("team", None), bucket_id("team", "http://127.0.0.1:9000")
    ('team', 'team_5685d246')
    """
    if not endpoint_url:
        return safe_name(bucket)
    digest = hashlib.md5(endpoint_url.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{safe_name(bucket)}_{digest}"


def _model_folder(model_id: str, revision: str | None, default_revision_name: str) -> str:
    validate_model_id(model_id)
    validate_revision(revision)
    return f"{safe_name(model_id)}/{safe_name(revision or default_revision_name)}"


def local_model_prefix(
    model_id: str,
    revision: str | None,
    *,
    bucket_folder: str | None = None,
    public: bool = False,
    default_revision_name: str = "default_revision",
) -> str:
    """The key prefix of a model's folder inside the local store.

    >>> local_model_prefix("microsoft/DialoGPT-medium", None)
    'microsoft_DialoGPT-medium/default_revision'
    >>> local_model_prefix("gpt2", "main", bucket_folder="team")
    'by_bucket/team/gpt2/main'
    """
    parts = []
    if public:
        parts.append("public")
    if bucket_folder:
        parts += ["by_bucket", bucket_folder]
    folder = _model_folder(model_id, revision, default_revision_name)
    if not parts:
        _check_not_reserved(model_id, folder.partition("/")[0])
    parts.append(folder)
    return "/".join(parts)


def _check_not_reserved(model_id: str, top: str) -> None:
    if top.lower() in RESERVED_ROOT_NAMES:
        raise InvalidModelIdError(
            f"model id {model_id!r} maps to the folder {top!r}, which hgloc keeps for itself "
            f"at the store's root ({', '.join(sorted(RESERVED_ROOT_NAMES))}): storing it "
            "there could write into other models' folders. Use a store with a bucket "
            "configured (its models live under by_bucket/<bucket>/), or another id"
        )


def bucket_model_prefix(
    model_id: str,
    revision: str | None,
    *,
    data_prefix: str = "",
    default_revision_name: str = "default_revision",
) -> str:
    """The key prefix of a model's folder in the bucket, relative to the bucket root.

    >>> bucket_model_prefix("gpt2", None, data_prefix="team")
    'team/models/gpt2/default_revision'
    """
    folder = _model_folder(model_id, revision, default_revision_name)
    return "/".join(p for p in (data_prefix.strip("/"), "models", folder) if p)


def _file_name(name: object) -> str:
    """A file name from a metadata file: a clean key inside the folder, never the marker."""
    if not isinstance(name, str):
        raise TypeError(f"file name {name!r} is not a string")
    validate_key(name)  # no '..', no absolute path, no NUL: nothing outside the folder
    if name.rpartition("/")[2] == METADATA_FILE:
        raise ValueError(f"it lists the metadata file {name!r} as one of its files")
    return name


@attrs.frozen
class FileRecord:
    """One stored file: where it came from and how to check it."""

    repo_path: str
    size: int
    sha1: str | None = None  # git blob sha1, for regular files
    sha256: str | None = None  # for LFS files

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"repo_path": self.repo_path, "size": self.size}
        if self.sha1:
            out["git_sha1"] = self.sha1
        if self.sha256:
            out["sha256"] = self.sha256
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileRecord:
        return cls(
            repo_path=str(data["repo_path"]),
            size=int(data["size"]),
            sha1=data.get("git_sha1"),
            sha256=data.get("sha256"),
        )


@attrs.frozen
class ModelRecord:
    """The metadata file of one cached model; written last, so it marks completion.

    Carries HG-Localization's fields (``s3_bucket_name``, ``cached_timestamp``,
    ``is_public``, ``type``...) and hgloc's own: the true ``model_id``, the
    requested ``revision``, the resolved ``commit`` and every file's size and hash.
    """

    model_id: str
    revision: str | None
    commit: str | None
    files: Mapping[str, FileRecord]
    cached_timestamp: str = attrs.field(factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    is_public: bool = False
    is_full_model: bool = False
    s3_bucket_name: str | None = None
    s3_endpoint_url: str | None = None
    s3_data_prefix: str | None = None
    resolved_repo_id: str | None = None
    # "local": the hashes were computed from the bytes of an adopted folder, not given by the Hub;
    # "received": at least one file came without an ETag, so its hash is of the bytes received.
    hashes_source: str | None = None
    # Never stored: set on a record inferred from a folder name that could hold several ids.
    ambiguous: bool = attrs.field(default=False, eq=False)

    @property
    def has_card(self) -> bool:
        return CARD_FILE in self.files

    @property
    def has_config(self) -> bool:
        return CONFIG_FILE in self.files

    @property
    def has_tokenizer(self) -> bool:
        return any(name in self.files for name in TOKENIZER_FILES)

    def to_bytes(self) -> bytes:
        data: dict[str, Any] = {
            "s3_bucket_name": self.s3_bucket_name,
            "s3_endpoint_url": self.s3_endpoint_url,
            "s3_data_prefix": self.s3_data_prefix,
            "cached_timestamp": self.cached_timestamp,
            "is_public": self.is_public,
            "type": "model",
            "model_id": self.model_id,
            "revision": self.revision,
            "commit": self.commit,
            "is_full_model": self.is_full_model,
            "resolved_repo_id": self.resolved_repo_id,
            "files": {name: rec.as_json() for name, rec in sorted(self.files.items())},
            "hgloc_format": 1,
        }
        if self.hashes_source:
            data["hashes_source"] = self.hashes_source
        return json.dumps(data, indent=2, ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, *, where: str) -> ModelRecord:
        """Parse a metadata file; ``where`` names it in the error if it is damaged.

        Raises ``IndexCorruptError`` for a file that is not hgloc's JSON, and
        ``KeyError`` (caught by listing) for an HG-Localization file that lacks
        the model id.
        """
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            model_id = validate_model_id(str(data["model_id"]))
            revision = validate_revision(data.get("revision"))
            files = {
                _file_name(name): FileRecord.from_json(rec)
                for name, rec in data.get("files", {}).items()
            }
        except KeyError:
            raise
        # Invalid ids, revisions and names are ValueErrors: a file that names them is damaged
        # (or hostile), and is never used to read or write a key.
        except (ValueError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
            raise IndexCorruptError(
                f"metadata file {where} is damaged ({exc}); delete that model folder and "
                "download the model again"
            ) from exc
        return cls(
            model_id=model_id,
            revision=revision,
            commit=data.get("commit"),
            files=files,
            cached_timestamp=str(data.get("cached_timestamp") or ""),
            is_public=bool(data.get("is_public", False)),
            is_full_model=bool(data.get("is_full_model", False)),
            s3_bucket_name=data.get("s3_bucket_name"),
            s3_endpoint_url=data.get("s3_endpoint_url"),
            s3_data_prefix=data.get("s3_data_prefix"),
            resolved_repo_id=data.get("resolved_repo_id"),
            hashes_source=data.get("hashes_source"),
        )
