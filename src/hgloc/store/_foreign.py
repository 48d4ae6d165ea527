"""Folders written by HG-Localization: the id from the folder name, the hashes from the bytes.

HG-Localization's metadata file names no model, and it caches public copies
with no metadata file at all. The id then comes from the folder name, read as
HG-Localization's own listing reads it: the last ``_`` becomes ``/``. A name
with two or more ``_`` could hold several ids (``team-org_model_v2`` is
``team-org/model_v2`` or ``team-org_model/v2``): such a folder is shown under
HG-Localization's guess, marked ambiguous, and a warning (once per folder and
process) names the command that settles it, ``hgloc adopt FOLDER MODEL_ID``.

A folder whose name is unambiguous is adopted the first time hgloc sees it:
its files are hashed once (git blob sha1, or sha256 for what the Hub keeps in
LFS) and hgloc's keys are added to its metadata file, after HG-Localization's,
which keep their values; ``hashes_source: "local"`` says the hashes were not
checked against the Hub. A store hgloc cannot write to is read the same way,
hashing on every look.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from huggingface_hub.utils.sha import git_hash

from hgloc.backends import StorageBackend
from hgloc.errors import (
    HglocError,
    InvalidKeyError,
    InvalidModelIdError,
    LayoutCollisionError,
    ObjectNotFoundError,
)
from hgloc.layout import (
    CARD_FILE,
    CARD_REPO_PATH,
    CONFIG_FILE,
    HASHES_LOCAL,
    METADATA_FILE,
    FileRecord,
    ModelRecord,
    safe_name,
    validate_model_id,
    validate_revision,
)

__all__ = [
    "ForeignFolders",
    "candidate_ids",
    "describe_files",
    "hg_localization_metadata",
    "is_ambiguous",
    "is_model_folder",
    "shown_model_id",
    "store_prefix",
]

logger = logging.getLogger("hgloc")

BIG_FILE = 10 * 1024 * 1024  # the Hub keeps files from this size on in LFS
# What the Hub's default .gitattributes sends to LFS whatever the size (weights, archives).
_LFS_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf",
    ".model", ".pkl", ".pickle", ".npy", ".npz", ".tflite", ".ot", ".pb", ".zip", ".gz",
)  # fmt: skip
_WEIGHTS = (".bin", ".safetensors")

# Folders already warned about in this process (their locations).
_warned: set[str] = set()


def shown_model_id(folder_name: str) -> str:
    """The id HG-Localization shows for a folder name: its last ``_`` becomes ``/``.

    >>> shown_model_id("microsoft_DialoGPT-medium"), shown_model_id("gpt2")
    ('microsoft/DialoGPT-medium', 'gpt2')
    """
    head, sep, tail = folder_name.rpartition("_")
    return f"{head}/{tail}" if sep else folder_name


def is_ambiguous(folder_name: str) -> bool:
    """Whether the name could hold several ids: two or more ``_``."""
    return folder_name.count("_") >= 2


def _valid(model_id: str) -> bool:
    try:
        validate_model_id(model_id)
    except InvalidModelIdError:
        return False
    return True


def candidate_ids(folder_name: str) -> list[str]:
    """Every valid id stored under ``folder_name``; HG-Localization's guess first.

    >>> candidate_ids("team-org_model_v2")
    ['team-org_model/v2', 'team-org/model_v2', 'team-org_model_v2']
    """
    found = [shown_model_id(folder_name)]
    cuts = [i for i, c in enumerate(folder_name) if c == "_"]
    found += [folder_name[:i] + "/" + folder_name[i + 1 :] for i in reversed(cuts)]
    found.append(folder_name)  # a legacy id without an organisation
    return [m for m in dict.fromkeys(found) if _valid(m)]


def is_model_folder(prefix: str) -> bool:
    """Whether ``prefix`` has the shape of a model folder: ``[public/][by_bucket/B/]ID/REV``."""
    parts = prefix.split("/")
    if len(parts) < 2 or any(not p or p.startswith(".") for p in parts):
        return False
    head = parts[:-2]
    if head[:1] == ["public"]:
        head = head[1:]
    return head == [] or (len(head) == 2 and head[0] == "by_bucket")


def store_prefix(store: Path, folder: str | os.PathLike[str]) -> str:
    """The key of ``folder`` in the local store at ``store``.

    ``folder``: a path (absolute, or relative to the working directory), else
    relative to the store. A model folder with a single revision folder stands
    for that one.
    """
    root = store.expanduser().resolve()
    path = Path(folder).expanduser()
    if not path.is_absolute() and not path.exists():
        path = root / path
    path = path.resolve()
    if not path.is_relative_to(root) or path == root:
        raise InvalidKeyError(f"{folder} is not a folder inside the store {root}")
    if path.is_dir() and not {CARD_FILE, CONFIG_FILE} & {p.name for p in path.iterdir()}:
        revisions = [p for p in path.iterdir() if p.is_dir()]
        if len(revisions) == 1:
            path = revisions[0]
    return path.relative_to(root).as_posix()


def hg_localization_metadata(raw: bytes) -> dict[str, Any] | None:
    """The metadata file's keys if HG-Localization wrote it (no model id), else ``None``."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or "model_id" in data or data.get("type", "model") != "model":
        return None
    return data


async def _describe(backend: StorageBackend, key: str, name: str) -> FileRecord:
    repo_path = CARD_REPO_PATH if name == CARD_FILE else name
    size = (await backend.stat(key)).size
    if size < BIG_FILE and not name.endswith(_LFS_SUFFIXES):
        data = await backend.read(key)
        return FileRecord(repo_path, len(data), sha1=git_hash(data))
    digest, total = hashlib.sha256(), 0
    async for chunk in backend.read_stream(key):
        digest.update(chunk)
        total += len(chunk)
    return FileRecord(repo_path, total, sha256=digest.hexdigest())


async def describe_files(
    backend: StorageBackend, prefix: str, names: Iterable[str]
) -> dict[str, FileRecord]:
    """Size and hash of each file of a folder, computed from its bytes."""
    return {name: await _describe(backend, f"{prefix}/{name}", name) for name in sorted(names)}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


async def local_record(
    backend: StorageBackend,
    prefix: str,
    names: Iterable[str],
    metadata: Mapping[str, Any] | None,
    *,
    model_id: str,
    revision: str | None,
) -> ModelRecord:
    """hgloc's record of a folder hgloc did not fetch; HG-Localization's keys keep their values."""
    names = [n for n in names if n != METADATA_FILE]
    meta = dict(metadata or {})
    top = [n for n in names if "/" not in n]
    return ModelRecord(
        model_id=model_id,
        revision=revision,
        commit=None,
        files=await describe_files(backend, prefix, names),
        cached_timestamp=str(meta.get("cached_timestamp") or _now()),
        is_public=bool(meta.get("is_public", prefix.startswith("public/"))),
        # HG-Localization's rule: a config and weights at the top of the folder.
        is_full_model=CONFIG_FILE in top and any(n.endswith(_WEIGHTS) for n in top),
        s3_bucket_name=meta.get("s3_bucket_name"),
        s3_endpoint_url=meta.get("s3_endpoint_url"),
        s3_data_prefix=meta.get("s3_data_prefix", "" if metadata is not None else None),
        hashes_source=HASHES_LOCAL,
    )


@attrs.frozen
class ForeignFolders:
    """Reads HG-Localization's folders in one backend, adopting those with unambiguous names."""

    backend: StorageBackend
    default_revision_name: str = "default_revision"

    def revision_of(self, folder_name: str) -> str | None:
        return None if folder_name == self.default_revision_name else folder_name

    async def record(
        self, prefix: str, names: Iterable[str], metadata: Mapping[str, Any] | None
    ) -> ModelRecord | None:
        """The record of the HG-Localization folder at ``prefix``; ``None`` if it is not a model.

        ``names``: its files (keys relative to the folder); ``metadata``: its
        HG-Localization metadata, ``None`` without a metadata file. A folder
        holding neither a card nor a config (what HG-Localization leaves when the
        Hub failed) is no model.
        """
        names = [n for n in names if n != METADATA_FILE]
        if not is_model_folder(prefix) or not {CARD_FILE, CONFIG_FILE} & set(names):
            return None
        id_folder, rev_folder = prefix.split("/")[-2:]
        model_id = shown_model_id(id_folder)
        revision = self.revision_of(rev_folder)
        try:
            validate_model_id(model_id)
            validate_revision(revision)
        except InvalidModelIdError as exc:
            logger.warning("skipping %s: %s", self.backend.location(prefix), exc)
            return None
        record = await local_record(
            self.backend, prefix, names, metadata, model_id=model_id, revision=revision
        )
        if is_ambiguous(id_folder):
            self._warn_ambiguous(prefix, model_id)
            return attrs.evolve(record, ambiguous=True)
        await self._save(prefix, record)
        return record

    def _warn_ambiguous(self, prefix: str, shown: str) -> None:
        where = self.backend.location(prefix)
        if where in _warned:
            return
        _warned.add(where)
        others = [repr(m) for m in candidate_ids(prefix.split("/")[-2]) if m != shown]
        logger.warning(
            "%s was written by HG-Localization; its name could hold %r or %s (listed as %r). "
            "Name the model it holds: hgloc adopt %s MODEL_ID",
            where,
            shown,
            " or ".join(others),
            shown,
            where,
        )

    async def adopt(self, prefix: str, model_id: str, revision: str | None) -> ModelRecord:
        """Record that the folder at ``prefix`` holds ``model_id`` at ``revision``.

        ``revision=None`` takes it from the folder name (the default revision
        folder means the default branch). The folder keeps its name, files and
        HG-Localization's keys; hgloc's keys are added, hashes computed from the
        bytes. A folder hgloc fetched from the Hub is left as it is (same model)
        or refused (another one).
        """
        validate_model_id(model_id)
        validate_revision(revision)
        where = self.backend.location(prefix)
        if not is_model_folder(prefix):
            raise InvalidModelIdError(f"{where} is not a model folder (<model>/<revision>)")
        id_folder, rev_folder = prefix.split("/")[-2:]
        if safe_name(model_id) != id_folder:
            raise InvalidModelIdError(
                f"{where} cannot hold {model_id!r}: its folder would be {safe_name(model_id)!r}"
            )
        if revision is None:
            revision = self.revision_of(rev_folder)
        elif safe_name(revision) != rev_folder:
            raise InvalidModelIdError(
                f"{where} cannot hold revision {revision!r}: its folder would be "
                f"{safe_name(revision)!r}"
            )
        metadata: dict[str, Any] | None = None
        try:
            raw = await self.backend.read(f"{prefix}/{METADATA_FILE}")
        except ObjectNotFoundError:
            raw = None
        if raw is not None:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if isinstance(data, dict):
                metadata = data
                if "model_id" in data and data.get("hashes_source") != HASHES_LOCAL:
                    held = ModelRecord.from_bytes(raw, where=where)
                    if (held.model_id, held.revision) == (model_id, revision):
                        return held  # fetched by hgloc: nothing to adopt
                    raise LayoutCollisionError(f"{where} holds {held.model_id!r}, fetched by hgloc")
        names = [
            key[len(prefix) + 1 :]
            async for key in self.backend.list_keys(prefix)
            if "/" not in key[len(prefix) + 1 :] and key[len(prefix) + 1 :] != METADATA_FILE
        ]
        if not {CARD_FILE, CONFIG_FILE} & set(names):
            raise ObjectNotFoundError(f"{where} holds neither {CARD_FILE} nor {CONFIG_FILE}")
        record = await local_record(
            self.backend, prefix, names, metadata, model_id=model_id, revision=revision
        )
        await self.backend.write(f"{prefix}/{METADATA_FILE}", record.to_bytes())
        _warned.discard(where)
        logger.info("adopted %s as %s", where, model_id)
        return record

    async def _save(self, prefix: str, record: ModelRecord) -> None:
        try:
            await self.backend.write(f"{prefix}/{METADATA_FILE}", record.to_bytes())
        except (OSError, HglocError) as exc:  # a read-only store: hash again next time
            logger.debug("could not record %s: %s", self.backend.location(prefix), exc)
