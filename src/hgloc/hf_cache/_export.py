"""Stored models out to huggingface_hub's cache layout or to plain folders.

Each file is placed by :func:`place`: a reflink or hard link when the store is
a local folder on the same filesystem (no bytes copied, no space used), else a
streamed copy checked against the recorded hash before it lands. Refs, tree
listings and symlinks are written last for each model, each atomically.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable
from pathlib import Path

import anyio
import anyio.to_thread
import attrs

from hgloc.backends import StorageBackend
from hgloc.config import Config
from hgloc.errors import HglocError
from hgloc.hf_cache._layout import (
    LOCAL_DIR_META,
    TreeFile,
    is_commit,
    link_target,
    plain_folder,
    ref_for,
    repo_folder,
    tree_json,
)
from hgloc.hf_cache._links import (
    LINK_MIN_SIZE,
    Placement,
    copy_chunks,
    link_file,
    symlink_atomic,
    write_atomic,
)
from hgloc.hf_cache._results import ExportedModel, ExportFormat, ExportReport, Meter
from hgloc.hf_cache._stored import StoredFile, StoredModelCopy, find_stored
from hgloc.localize import Localizer, ModelRef, parse_model_ref
from hgloc.transfer import ByteProgress

__all__ = ["LinkPolicy", "export_models", "place"]


@attrs.frozen
class LinkPolicy:
    """When an export may share the store's blocks instead of copying them."""

    hard_links: bool = True
    link_min_size: int = LINK_MIN_SIZE


async def place(
    model: StoredModelCopy,
    file: StoredFile,
    dst: Path,
    policy: LinkPolicy,
    meter: Meter,
    *,
    named_by_hash: bool = False,
) -> Placement:
    """Put one stored file at ``dst``: kept, linked, or copied and checked.

    ``named_by_hash``: ``dst`` is a blob named by its hash, so one already there
    with the right size is kept (as huggingface_hub does).
    """
    size = file.record.size
    if named_by_hash and await anyio.to_thread.run_sync(_holds, dst, size):
        meter.add(size)
        return Placement.KEPT
    src = model.local_path(file)
    if src is not None:
        linked = await anyio.to_thread.run_sync(
            functools.partial(
                link_file, src, dst, size=size, hard_links=policy.hard_links,
                link_min_size=policy.link_min_size,
            )
        )  # fmt: skip
        if linked is not None:
            meter.add(size)
            return linked
    await copy_chunks(
        model.chunks(file),
        dst,
        file.record,
        what=f"the store's copy of {file.repo_path} ({model.ref})",
        on_bytes=meter.file(file.repo_path, size),
    )
    return Placement.COPY


def _holds(path: Path, size: int) -> bool:
    try:
        return not path.is_symlink() and path.stat().st_size == size
    except OSError:
        return False


def _needs_commit(model: StoredModelCopy, fmt: ExportFormat) -> str:
    commit = model.record.commit
    if not is_commit(commit):
        raise HglocError(
            f"{model.ref}: the store recorded no commit for it, and the {fmt.value} layout "
            "is named by commits; refresh it first (hgloc download-model --refresh) "
            "or export it with --format dir"
        )
    assert commit is not None
    return commit


def _tree(model: StoredModelCopy) -> dict[str, TreeFile]:
    return {f.repo_path: TreeFile.of(f.record) for f in model.files}


async def write_hf_cache(
    model: StoredModelCopy, root: Path, policy: LinkPolicy, meter: Meter
) -> ExportedModel:
    """One model into ``root`` as huggingface_hub lays it out (blobs, snapshots, refs, trees)."""
    commit = _needs_commit(model, ExportFormat.HF_CACHE)
    repo = root / repo_folder(model.ref.model_id)
    snapshot = repo / "snapshots" / commit
    linked = 0
    for file in model.files:
        blob = repo / "blobs" / file.etag
        how = await place(model, file, blob, policy, meter, named_by_hash=True)
        linked += file.record.size if how is not Placement.COPY else 0
        link = snapshot.joinpath(*file.repo_path.split("/"))
        target = link_target(file.repo_path, file.etag)
        await anyio.to_thread.run_sync(_make_link, target, link)
    if model.record.is_full_model:
        # Only a full model's listing: huggingface_hub reads it as "this snapshot is
        # complete when these files are there"; a metadata-only export writes none,
        # as a cache filled by hf_hub_download has none.
        data = tree_json(_tree(model))
        await anyio.to_thread.run_sync(write_atomic, repo / "trees" / f"{commit}.json", data)
    await anyio.to_thread.run_sync(snapshot.mkdir, 0o777, True, True)
    ref = ref_for(model.ref.revision, commit)
    if ref is not None:
        await anyio.to_thread.run_sync(
            write_atomic, repo.joinpath("refs", *ref.split("/")), commit.encode()
        )
    return _done(model, commit, snapshot, linked)


def _make_link(target: str, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    symlink_atomic(target, link)


async def write_dir(
    model: StoredModelCopy, root: Path, policy: LinkPolicy, meter: Meter
) -> ExportedModel:
    """One model as a plain folder (``from_pretrained(path)``), with huggingface_hub's
    ``local_dir`` bookkeeping when the commit is known, so ``hf download --local-dir``
    finds the files current and ``hgloc import --from`` can check them offline."""
    folder = root / plain_folder(model.ref.model_id, model.ref.revision)
    linked = 0
    commit = model.record.commit if is_commit(model.record.commit) else None
    for file in model.files:
        dst = folder.joinpath(*file.repo_path.split("/"))
        how = await place(model, file, dst, policy, meter)
        linked += file.record.size if how is not Placement.COPY else 0
        if commit is not None:
            meta = folder / LOCAL_DIR_META / "download" / f"{file.repo_path}.metadata"
            line = f"{commit}\n{file.etag}\n{time.time()}\n".encode()
            await anyio.to_thread.run_sync(write_atomic, meta, line)
    if commit is not None and model.record.is_full_model:
        data = tree_json(_tree(model))
        tree = folder / LOCAL_DIR_META / "trees" / f"{commit}.json"
        await anyio.to_thread.run_sync(write_atomic, tree, data)
    return _done(model, commit, folder, linked)


def _done(model: StoredModelCopy, commit: str | None, path: Path, linked: int) -> ExportedModel:
    return ExportedModel(
        model.ref, commit, str(path), len(model.files), model.size, linked,
        model.record.is_full_model,
    )  # fmt: skip


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().absolute()


async def export_models(
    models: Iterable[str | ModelRef],
    to: str | os.PathLike[str],
    *,
    format: ExportFormat | str = ExportFormat.HF_CACHE,
    config: Config | None = None,
    backend: StorageBackend | None = None,
    hard_links: bool = True,
    link_min_size: int = LINK_MIN_SIZE,
    on_bytes: ByteProgress | None = None,
) -> ExportReport:
    """Write stored models where tools that cannot reach any server load them.

    ``format``: ``hf-cache`` (default) lays them out as huggingface_hub's cache
    under ``to`` (use it as ``HF_HUB_CACHE``, with ``HF_HUB_OFFLINE=1``); ``dir``
    writes a plain folder per model (``to/org/name``, ``org/name@rev``);
    ``tar`` writes one archive ``to`` (a ``.tar`` path, or a folder to put
    ``hgloc-export.tar`` in) holding ``hub/`` (the cache layout) and
    ``hgloc-manifest.json`` (every file's hash).

    Files are reflinked or (``hard_links``, files of ``link_min_size`` bytes or
    more) hard-linked from a local store on the same filesystem; otherwise
    copied, each checked against its recorded hash. ``on_bytes(path, done,
    total)`` reports bytes (``path == ""``: the whole export). A model that is
    not in the store, or cannot be written, is reported failed; the others
    are exported. Makes no request.
    """
    from hgloc.hf_cache._tar import write_tar

    fmt = ExportFormat(format)
    started = time.perf_counter()
    refs = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in models]
    policy = LinkPolicy(hard_links=hard_links, link_min_size=link_min_size)
    async with Localizer(config, backend=backend) as loc:
        found: list[StoredModelCopy | ExportedModel] = []
        for ref in dict.fromkeys(refs):
            try:
                found.append(await find_stored(loc, ref))
            except (HglocError, ValueError) as exc:
                found.append(ExportedModel(ref, error=str(exc)))
        stored = [m for m in found if isinstance(m, StoredModelCopy)]
        meter = Meter(on_bytes, sum(m.size for m in stored))
        meter.start()
        if fmt is ExportFormat.TAR:
            target, written = await write_tar(
                stored, await anyio.to_thread.run_sync(_absolute, to), meter
            )
        else:
            target = await anyio.to_thread.run_sync(_absolute, to)
            writer = write_hf_cache if fmt is ExportFormat.HF_CACHE else write_dir
            written = {}
            for model in stored:
                try:
                    written[model.ref] = await writer(model, target, policy, meter)
                except (HglocError, OSError, ValueError) as exc:
                    written[model.ref] = ExportedModel(model.ref, error=str(exc))
    results = tuple(m if isinstance(m, ExportedModel) else written[m.ref] for m in found)
    return ExportReport(str(target), fmt, results, time.perf_counter() - started)
