"""Revisions side by side without two copies of a file: hard links on a local store.

Every revision keeps its own folder (HG-Localization's layout, readable by
either tool). A file a sibling revision of the same model already holds with
the same size and hash is made a hard link to it, so two names at one commit,
or two commits that share most files, cost the disk once. Stores without local
paths (S3, memory) keep copies.

Safe because stored files are never modified in place: every write lands a new
file by rename, so replacing one revision's file leaves its siblings' as they were.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

import anyio.to_thread

from hgloc.backends import LocalPaths, StorageBackend
from hgloc.layout import METADATA_FILE, FileRecord, ModelRecord
from hgloc.store._model_store import ModelStore

__all__ = ["place_file", "place_folder", "remove_empty_folder", "share_unchanged"]

logger = logging.getLogger("hgloc")

_TMP_PREFIX = ".hgloc-tmp-"  # the local store's temp files: hidden from listings


def _identity(file: FileRecord) -> tuple[int, str | None, str | None]:
    return file.size, file.sha256, None if file.sha256 else file.sha1


def _link_into_place(source: str, target: str) -> bool:
    """Make ``target`` a hard link to ``source``; ``False`` when links are not possible here."""
    try:
        if os.path.samefile(source, target):
            return True
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = os.path.join(os.path.dirname(target), f"{_TMP_PREFIX}{secrets.token_hex(8)}")
    try:
        os.link(source, tmp)
    except OSError:  # another filesystem, too many links, links not supported
        return False
    try:
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


async def place_file(backend: StorageBackend, source_key: str, target_key: str) -> None:
    """Make ``target_key`` hold ``source_key``'s bytes: a hard link if possible, else a copy."""
    if isinstance(backend, LocalPaths):
        source, target = str(backend.target_path(source_key)), str(backend.target_path(target_key))
        if await anyio.to_thread.run_sync(_link_into_place, source, target):
            return
    await backend.write_stream(target_key, backend.read_stream(source_key))


async def place_folder(
    backend: StorageBackend, source_prefix: str, prefix: str, record: ModelRecord
) -> None:
    """Make the folder at ``prefix`` hold ``record``'s files from ``source_prefix``, then
    ``record`` as its metadata; files it held that ``record`` lacks go.

    The caller holds the folder's lock. The metadata goes first and comes back
    last, so the folder never counts as cached while its files change.
    """
    old = await ModelStore(backend).load(prefix)
    await backend.delete(f"{prefix}/{METADATA_FILE}")
    for name in sorted(record.files):
        await place_file(backend, f"{source_prefix}/{name}", f"{prefix}/{name}")
    if old is not None:
        for name in sorted(old.files.keys() - record.files.keys()):
            await backend.delete(f"{prefix}/{name}")
    await backend.write(f"{prefix}/{METADATA_FILE}", record.to_bytes())


async def share_unchanged(backend: StorageBackend, prefix: str, record: ModelRecord) -> int:
    """Link the files of the folder at ``prefix`` that a sibling revision holds identically.

    Returns how many files are now shared. A no-op (0) on stores without local paths.
    """
    if not isinstance(backend, LocalPaths) or "/" not in prefix:
        return 0
    model_folder, _, own = prefix.rpartition("/")
    if not _has_other_entries(backend.root.joinpath(*model_folder.split("/")), own):
        return 0  # the model's only revision: nothing to share with
    siblings = [
        s
        for s in await ModelStore(backend).list(model_folder)
        if s.prefix != prefix
        and s.prefix.rpartition("/")[0] == model_folder
        and s.record.model_id == record.model_id
    ]
    if not siblings:
        return 0
    held: dict[tuple[int, str | None, str | None], str] = {}
    for sibling in siblings:
        for name, file in sibling.record.files.items():
            held.setdefault(_identity(file), f"{sibling.prefix}/{name}")
    shared = 0
    for name, file in sorted(record.files.items()):
        source = held.get(_identity(file))
        if source is None:
            continue
        target = f"{prefix}/{name}"
        try:
            await place_file(backend, source, target)
        except OSError as exc:  # a sibling removed meanwhile: keep our own copy
            logger.debug("could not share %s with %s: %s", target, source, exc)
            continue
        shared += 1
    if shared:
        logger.info("%s shares %d file(s) with other revisions", backend.location(prefix), shared)
    return shared


def _has_other_entries(folder: Path, own: str) -> bool:
    """Whether ``folder`` holds anything but ``own`` (a sibling revision, perhaps).

    Asked after every model a bulk run stores, and the answer is mostly no: one
    read of a small folder gives it without a thread hop, which costs more.
    """
    try:
        with os.scandir(folder) as entries:
            return any(entry.name != own for entry in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True  # let the listing say what is wrong


async def remove_empty_folder(backend: StorageBackend, prefix: str) -> None:
    """Remove the folder at ``prefix`` of a local store if nothing is left in it."""
    if isinstance(backend, LocalPaths):
        folder = backend.root.joinpath(*prefix.split("/"))
        await anyio.to_thread.run_sync(_rmdir_quietly, str(folder))


def _rmdir_quietly(folder: str) -> None:
    with contextlib.suppress(OSError):  # not empty (a lock or staging file), or gone already
        os.rmdir(folder)
