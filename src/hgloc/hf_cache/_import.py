"""Models from a huggingface_hub cache (or a plain folder) into the store, every file checked.

Each snapshot is checked whole before anything is written: every file's bytes
against its hash (the blob name is the ETag: sha256 for LFS files, git blob sha1
otherwise), and, when the commit's tree listing is there, that no file it names
is missing. A damaged or partial snapshot is reported and left out. A sound one
is written as the store writes a full model: files first (linked from the cache
when it is on the store's filesystem, else copied), the metadata file last.

``refs/main`` becomes the store's default-branch model (revision ``None``),
any other ref a model at that revision; a snapshot no ref names is stored at
its commit. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

import anyio
import anyio.to_thread

from hgloc.backends import LocalPaths, validate_key
from hgloc.config import Config
from hgloc.errors import HglocError
from hgloc.hf_cache._layout import (
    DEFAULT_REF,
    LOCAL_DIR_META,
    TreeFile,
    is_commit,
    revision_for_ref,
)
from hgloc.hf_cache._links import (
    LINK_MIN_SIZE,
    FileHasher,
    copy_chunks,
    link_file,
    local_chunks,
)
from hgloc.hf_cache._results import ImportedModel, ImportReport, ImportStatus, Meter
from hgloc.hf_cache._scan import Snapshot, SnapshotFile, scan_cache, scan_folder
from hgloc.layout import (
    CARD_FILE,
    CARD_REPO_PATH,
    METADATA_FILE,
    FileRecord,
    ModelRecord,
    validate_model_id,
    validate_revision,
)
from hgloc.localize import Localizer, ModelRef, parse_model_ref
from hgloc.store import model_folder_lock
from hgloc.transfer import ByteProgress

__all__ = ["import_cache", "import_folder"]

logger = logging.getLogger("hgloc")

_RESERVED_PREFIX = ".hgloc-tmp-"


def _store_name(repo_path: str) -> str:
    name = CARD_FILE if repo_path == CARD_REPO_PATH else repo_path
    base = name.rpartition("/")[2]
    if base == METADATA_FILE or base.startswith(_RESERVED_PREFIX):
        raise ValueError(f"{repo_path!r} is a name hgloc keeps for itself")
    return validate_key(name)


def _targets(snapshot: Snapshot, wanted: list[ModelRef] | None) -> list[ModelRef]:
    """The store models one snapshot becomes: one per ref, or its commit if none names it."""
    refs = [ModelRef(snapshot.model_id, revision_for_ref(r)) for r in snapshot.refs]
    if not refs:
        refs = [ModelRef(snapshot.model_id, snapshot.commit)]
    if wanted is None:
        return refs
    return [ref for ref in refs if any(_matches(want, ref, snapshot.commit) for want in wanted)]


def _matches(want: ModelRef, ref: ModelRef, commit: str) -> bool:
    """``org/name`` asks for every snapshot of the repo, ``org/name@rev`` for one ref or commit."""
    if want.model_id != ref.model_id:
        return False
    if want.revision is None:
        return True
    return want.revision in (ref.revision or DEFAULT_REF, commit)


class _Adopter:
    """Checks snapshots and writes the sound ones into one localizer's store."""

    def __init__(
        self,
        loc: Localizer,
        *,
        allow_partial: bool,
        replace: bool,
        hard_links: bool,
        link_min_size: int,
        meter: Meter,
    ) -> None:
        self.loc = loc
        self.allow_partial = allow_partial
        self.replace = replace
        self.hard_links = hard_links
        self.link_min_size = link_min_size
        self.meter = meter

    def _result(
        self, ref: ModelRef, snapshot: Snapshot, status: ImportStatus, reason: str | None = None
    ) -> ImportedModel:
        return ImportedModel(
            ref, snapshot.commit, status, len(snapshot.files),
            sum(f.record.size for f in snapshot.files), self._is_full(snapshot), reason=reason,
        )  # fmt: skip

    @staticmethod
    def _is_full(snapshot: Snapshot) -> bool:
        return snapshot.tree is not None and not snapshot.missing

    async def check(self, snapshot: Snapshot) -> tuple[ImportStatus, str] | None:
        """Why the snapshot cannot be adopted, or ``None`` when every file is sound."""
        if snapshot.problems:
            return ImportStatus.DAMAGED, "; ".join(snapshot.problems[:3])
        if not snapshot.files:
            return ImportStatus.PARTIAL, "the snapshot holds no file"
        missing = snapshot.missing
        if missing and not self.allow_partial:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            shown = ", ".join(missing[:3]) + more
            return ImportStatus.PARTIAL, (
                f"{len(missing)} file(s) of the commit are missing ({shown}); "
                "allow_partial (--partial) adopts the files that are there"
            )
        for file in snapshot.files:
            hasher = FileHasher(file.record)
            step = self.meter.file(file.record.repo_path, file.record.size)
            try:
                async for chunk in local_chunks(file.path):
                    hasher.update(chunk)
                    step(len(chunk))
            except OSError as exc:
                return ImportStatus.DAMAGED, f"{file.record.repo_path}: {exc}"
            if not hasher.ok:
                return ImportStatus.DAMAGED, f"{file.record.repo_path}: {hasher.problem()}"
        return None

    async def adopt(self, snapshot: Snapshot, refs: list[ModelRef]) -> list[ImportedModel]:
        """Check ``snapshot`` once, then store it under each of ``refs``."""
        try:
            names = {_store_name(f.record.repo_path): f for f in snapshot.files}
            problem = await self.check(snapshot)
        except (HglocError, ValueError) as exc:
            problem = ImportStatus.DAMAGED, str(exc)
        if problem is not None:
            logger.warning(
                "%s at %s not imported: %s", snapshot.model_id, snapshot.commit, problem[1]
            )
            return [self._result(ref, snapshot, *problem) for ref in refs]
        out = []
        for ref in refs:
            try:
                out.append(await self._write(snapshot, ref, names))
            except (HglocError, OSError, ValueError) as exc:
                out.append(self._result(ref, snapshot, ImportStatus.FAILED, str(exc)))
        return out

    async def _write(
        self, snapshot: Snapshot, ref: ModelRef, files: dict[str, SnapshotFile]
    ) -> ImportedModel:
        loc = self.loc
        prefix = loc.model_prefix(ref.model_id, ref.revision)
        async with model_folder_lock(loc.backend, prefix):
            existing = await loc.models.load_model(prefix, ref.model_id, ref.revision)
            if existing is not None:
                same = existing.commit == snapshot.commit and files.keys() <= existing.files.keys()
                if same and (existing.is_full_model or not self._is_full(snapshot)):
                    return self._result(ref, snapshot, ImportStatus.SKIPPED, "already in the store")
                if not self.replace:
                    return self._result(
                        ref, snapshot, ImportStatus.SKIPPED,
                        f"the store holds it at {existing.commit}; replace (--replace) "
                        "puts this snapshot in its place",
                    )  # fmt: skip
                await loc.backend.delete(f"{prefix}/{METADATA_FILE}")
            for name, file in files.items():
                await self._put(f"{prefix}/{name}", file.path, file.record)
            if existing is not None:
                for name in sorted(existing.files.keys() - files.keys()):
                    await loc.backend.delete(f"{prefix}/{name}")
            record = self._record(ref, snapshot, {n: f.record for n, f in files.items()})
            await loc.backend.write(f"{prefix}/{METADATA_FILE}", record.to_bytes())
        logger.info("imported %s (%s): %d files", ref, snapshot.commit, len(files))
        result = self._result(ref, snapshot, ImportStatus.IMPORTED)
        return ImportedModel(
            result.ref, result.commit, result.status, result.files, result.size,
            result.is_full_model, loc.backend.location(prefix),
        )  # fmt: skip

    async def _put(self, key: str, path: Path, record: FileRecord) -> None:
        backend = self.loc.backend
        if isinstance(backend, LocalPaths):
            target = backend.target_path(key)
            linked = await anyio.to_thread.run_sync(
                functools.partial(
                    link_file, path, target, size=record.size, hard_links=self.hard_links,
                    link_min_size=self.link_min_size,
                )
            )  # fmt: skip
            if linked is None:
                await copy_chunks(local_chunks(path), target, record, what=str(path))
        else:
            await backend.write_stream(key, local_chunks(path))

    def _record(
        self, ref: ModelRef, snapshot: Snapshot, files: dict[str, FileRecord]
    ) -> ModelRecord:
        config = self.loc.config
        bucket = config.s3_bucket_name
        return ModelRecord(
            model_id=ref.model_id,
            revision=ref.revision,
            commit=snapshot.commit,
            files=files,
            is_full_model=self._is_full(snapshot),
            s3_bucket_name=bucket,
            s3_endpoint_url=config.s3_endpoint_url,
            s3_data_prefix=config.s3_data_prefix if bucket else None,
        )


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().absolute()


async def _run(
    snapshots: list[tuple[Snapshot, list[ModelRef]]],
    source: str,
    *,
    config: Config | None,
    allow_partial: bool,
    replace: bool,
    hard_links: bool,
    link_min_size: int,
    on_bytes: ByteProgress | None,
    started: float,
) -> ImportReport:
    meter = Meter(on_bytes, sum(f.record.size for s, _ in snapshots for f in s.files))
    meter.start()
    results: list[ImportedModel] = []
    async with Localizer(config) as loc:
        adopter = _Adopter(
            loc, allow_partial=allow_partial, replace=replace, hard_links=hard_links,
            link_min_size=link_min_size, meter=meter,
        )  # fmt: skip
        for snapshot, refs in snapshots:
            results.extend(await adopter.adopt(snapshot, refs))
    return ImportReport(source, tuple(results), time.perf_counter() - started)


async def import_cache(
    cache_dir: str | os.PathLike[str],
    models: Iterable[str | ModelRef] | None = None,
    *,
    config: Config | None = None,
    allow_partial: bool = False,
    replace: bool = False,
    hard_links: bool = True,
    link_min_size: int = LINK_MIN_SIZE,
    on_bytes: ByteProgress | None = None,
) -> ImportReport:
    """Adopt models from a huggingface_hub cache (``HF_HUB_CACHE``) into the store.

    ``models`` narrows it: ``org/name`` takes every snapshot of that repo,
    ``org/name@rev`` the one a ref (or commit) names. Every file is checked
    against its hash first; a snapshot with a damaged or missing file is
    reported ``damaged``, one whose tree listing names files it lacks
    ``partial`` (``allow_partial=True`` adopts its files, not as a full model).
    A model the store already holds is ``skipped`` (``replace=True``: the
    snapshot takes its place). Files are linked from the cache when they can be
    (see :func:`~hgloc.hf_cache.export_models`), else copied. Nothing is
    downloaded; ``sync_all_local_models_to_s3`` then shares them.
    """
    started = time.perf_counter()
    root = await anyio.to_thread.run_sync(_absolute, cache_dir)
    wanted = None
    if models is not None:
        wanted = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in models]
    found = await anyio.to_thread.run_sync(scan_cache, root)
    plan = [(s, refs) for s in found if (refs := _targets(s, wanted))]
    return await _run(
        plan, str(root), config=config, allow_partial=allow_partial, replace=replace,
        hard_links=hard_links, link_min_size=link_min_size, on_bytes=on_bytes, started=started,
    )  # fmt: skip


async def import_folder(
    folder: str | os.PathLike[str],
    model_id: str,
    commit: str,
    *,
    revision: str | None = None,
    config: Config | None = None,
    allow_partial: bool = False,
    replace: bool = False,
    hard_links: bool = True,
    link_min_size: int = LINK_MIN_SIZE,
    on_bytes: ByteProgress | None = None,
) -> ImportReport:
    """Adopt a plain folder holding ``model_id`` at ``commit`` as the store's ``revision``.

    Hashes come from the folder's ``.cache/huggingface`` bookkeeping (``hf download
    --local-dir``, ``hgloc export --format dir``); without it, from the Hub's file
    list at ``commit`` (one listing request; no file is downloaded). Files the
    repo does not have at that commit are left out.
    """
    started = time.perf_counter()
    validate_model_id(model_id)
    validate_revision(revision)
    if not is_commit(commit):
        raise ValueError(f"commit must be a 40-hex commit id, got {commit!r}")
    root = await anyio.to_thread.run_sync(_absolute, folder)
    hub_tree: dict[str, TreeFile] | None = None
    has_meta = await anyio.to_thread.run_sync(lambda: (root / LOCAL_DIR_META).is_dir())
    if not has_meta:
        async with Localizer(config) as loc:
            entries = await loc.source.list_tree(model_id, commit)
        hub_tree = {e.path: TreeFile(e.path, e.size, e.oid, e.sha256) for e in entries}
    snapshot = await anyio.to_thread.run_sync(scan_folder, root, model_id, commit, hub_tree)
    plan = [(snapshot, [ModelRef(model_id, revision)])]
    return await _run(
        plan, str(root), config=config, allow_partial=allow_partial, replace=replace,
        hard_links=hard_links, link_min_size=link_min_size, on_bytes=on_bytes, started=started,
    )  # fmt: skip
