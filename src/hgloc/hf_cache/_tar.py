"""One tar archive to carry models across an air gap: the cache layout plus a manifest of hashes.

The archive holds ``hgloc-manifest.json`` first, then ``hub/`` laid out as
huggingface_hub's cache. Unpacked into ``~/.cache/huggingface`` (``HF_HOME``)
the models are where huggingface_hub looks by default; ``hgloc import hub/``
adopts them into a store, checking every file.

Written member by member (pax headers from :mod:`tarfile`, bytes streamed from
the store and checked against their hash on the way), to a temp file renamed
into place at the end: a failed export leaves no archive.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tarfile
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from hgloc.errors import HglocError, IntegrityError
from hgloc.hf_cache._layout import TreeFile, is_commit, link_target, ref_for, repo_folder, tree_json
from hgloc.hf_cache._links import FileHasher
from hgloc.hf_cache._results import ExportedModel, Meter
from hgloc.hf_cache._stored import StoredModelCopy
from hgloc.localize import ModelRef

__all__ = ["ARCHIVE_NAME", "MANIFEST_NAME", "manifest", "write_tar"]

ARCHIVE_NAME = "hgloc-export.tar"
MANIFEST_NAME = "hgloc-manifest.json"
CACHE_FOLDER = "hub"
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


def manifest(models: list[StoredModelCopy]) -> bytes:
    """Every model and file of the archive with its hash, as JSON."""
    entries: list[dict[str, Any]] = []
    for model in models:
        files = []
        for file in model.files:
            out: dict[str, Any] = {"path": file.repo_path, "size": file.record.size}
            out["sha256" if file.record.sha256 else "git_sha1"] = file.etag
            files.append(out)
        entries.append(
            {
                "model_id": model.ref.model_id,
                "revision": model.ref.revision,
                "commit": model.record.commit,
                "is_full_model": model.record.is_full_model,
                "cache_folder": f"{CACHE_FOLDER}/{repo_folder(model.ref.model_id)}",
                "files": files,
            }
        )
    data = {
        "format": "hgloc-export",
        "version": 1,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "layout": f"{CACHE_FOLDER}/ is a huggingface_hub cache (HF_HUB_CACHE)",
        "models": entries,
    }
    return json.dumps(data, indent=2).encode()


def _header(name: str, *, size: int = 0, link: str | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.mtime = int(time.time())
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        info.mode = 0o777
    else:
        info.size = size
        info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


class _Archive:
    """Members appended to an open file; ``written`` counts bytes for the final padding."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.written = 0

    async def put(self, data: bytes) -> None:
        await self.handle.write(data)
        self.written += len(data)

    async def add_bytes(self, name: str, data: bytes) -> None:
        await self.put(_header(name, size=len(data)) + data + _padding(len(data)))

    async def add_link(self, name: str, target: str) -> None:
        await self.put(_header(name, link=target))

    async def add_file(self, name: str, model: StoredModelCopy, index: int, meter: Meter) -> None:
        file = model.files[index]
        await self.put(_header(name, size=file.record.size))
        hasher = FileHasher(file.record)
        step = meter.file(file.repo_path, file.record.size)
        async for chunk in model.chunks(file):
            hasher.update(chunk)
            await self.put(chunk)
            step(len(chunk))
        if not hasher.ok:
            raise IntegrityError(
                f"the store's copy of {file.repo_path} ({model.ref}) is damaged: "
                f"{hasher.problem()}; run hgloc verify --repair"
            )
        await self.put(_padding(file.record.size))

    async def close(self) -> None:
        end = self.written + 2 * _BLOCK
        await self.put(b"\0" * (2 * _BLOCK + (-end % _RECORD)))


async def write_tar(
    models: list[StoredModelCopy], to: Path, meter: Meter
) -> tuple[Path, dict[ModelRef, ExportedModel]]:
    """Write ``models`` into one archive at ``to`` (absolute; a folder gets ``ARCHIVE_NAME``)."""
    path = to / ARCHIVE_NAME if await anyio.to_thread.run_sync(to.is_dir) else to
    results: dict[ModelRef, ExportedModel] = {}
    ready = []
    for model in models:
        if is_commit(model.record.commit):
            ready.append(model)
        else:
            results[model.ref] = ExportedModel(
                model.ref,
                error=f"{model.ref}: the store recorded no commit for it, and the archive "
                "holds the cache layout, named by commits; refresh it first "
                "(hgloc download-model --refresh) or export it with --format dir",
            )
    if not ready:
        return path, results
    await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        async with await anyio.open_file(tmp, "wb") as handle:
            archive = _Archive(handle)
            await archive.add_bytes(MANIFEST_NAME, manifest(ready))
            blobs: set[str] = set()
            for model in ready:
                await _add_model(archive, model, blobs, meter)
            await archive.close()
        await anyio.to_thread.run_sync(os.replace, tmp, path)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: tmp.unlink(missing_ok=True))
        if not isinstance(exc, HglocError | OSError):
            raise
        for model in ready:
            results[model.ref] = ExportedModel(model.ref, error=f"the archive failed: {exc}")
        return path, results
    for model in ready:
        results[model.ref] = ExportedModel(
            model.ref, model.record.commit, str(path), len(model.files), model.size, 0,
            model.record.is_full_model,
        )  # fmt: skip
    return path, results


async def _add_model(
    archive: _Archive, model: StoredModelCopy, blobs: set[str], meter: Meter
) -> None:
    commit = model.record.commit
    assert commit is not None
    repo = f"{CACHE_FOLDER}/{repo_folder(model.ref.model_id)}"
    for index, file in enumerate(model.files):
        blob = f"{repo}/blobs/{file.etag}"
        if blob in blobs:
            meter.add(file.record.size)
        else:
            blobs.add(blob)
            await archive.add_file(blob, model, index, meter)
        link = f"{repo}/snapshots/{commit}/{file.repo_path}"
        await archive.add_link(link, link_target(file.repo_path, file.etag))
    if model.record.is_full_model:
        tree = {f.repo_path: TreeFile.of(f.record) for f in model.files}
        await archive.add_bytes(f"{repo}/trees/{commit}.json", tree_json(tree))
    ref = ref_for(model.ref.revision, commit)
    if ref is not None:
        await archive.add_bytes(f"{repo}/refs/{ref}", commit.encode())
