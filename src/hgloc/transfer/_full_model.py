"""Whole repos into a store: list the files at one commit, fetch what is missing, mark complete.

The plan is the Hub's tree at the resolved commit, narrowed by glob patterns.
Files the folder already holds with the same size and hash (recorded in its
metadata, or in the staging journal of an interrupted run) are kept. Small
files are fetched into memory, big ones in parallel byte ranges (see
``_big_file``); each is verified before it becomes visible. The metadata file
is written last, listing every file: it marks the folder complete.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import anyio
import anyio.to_thread
import attrs
from huggingface_hub.utils import filter_repo_objects  # type: ignore[attr-defined]

from hgloc._aio import gather
from hgloc.backends import LocalPaths, StorageBackend, validate_key
from hgloc.errors import (
    HubError,
    InvalidKeyError,
    InvalidModelIdError,
    LayoutCollisionError,
    OfflineModeError,
)
from hgloc.layout import CARD_FILE, CARD_REPO_PATH, METADATA_FILE, FileRecord, ModelRecord
from hgloc.layout import validate_model_id as _validate_model_id
from hgloc.sources import HuggingFaceSource, TreeEntry
from hgloc.sources._hub_protocol import is_commit
from hgloc.transfer._big_file import (
    BigFileJob,
    ByteProgress,
    Progress,
    TransferSettings,
    fetch_big_file,
    stored_matches,
    verify_bytes,
)
from hgloc.transfer._limits import check_sizes
from hgloc.transfer._staging import Journal, model_staging, remove_model_staging, same_filesystem

__all__ = ["FullModelJob", "Outcome", "Patterns", "file_record", "select_files", "store_name"]

logger = logging.getLogger("hgloc")

Patterns = str | Iterable[str] | None
RecordFactory = Callable[[str, Mapping[str, FileRecord], str, bool], ModelRecord]
"""``(commit, files, resolved repo id, is_full_model) -> ModelRecord``."""

_STAT_CONCURRENCY = 32  # files hashed at once
# hgloc's own names (temp files '.hgloc-tmp-*', staging '.hgloc-partial'): never a repo path.
_HGLOC_PREFIX = ".hgloc-"


def store_name(repo_path: str) -> str:
    """A repo file's name in the model folder: the card is ``model_card.md`` (HG-Localization)."""
    return CARD_FILE if repo_path == CARD_REPO_PATH else repo_path


def file_record(entry: TreeEntry) -> FileRecord:
    """What the metadata records for a file: LFS files by sha256, others by git blob sha1."""
    if entry.sha256 is not None:
        return FileRecord(entry.path, entry.size, None, entry.sha256)
    return FileRecord(entry.path, entry.size, entry.oid, None)


def _total(todo: Mapping[str, TreeEntry]) -> int:
    return sum(e.size for e in todo.values())


def _holds(record: FileRecord | None, entry: TreeEntry) -> bool:
    if record is None or record.size != entry.size or record.repo_path != entry.path:
        return False
    if entry.sha256 is not None:
        return record.sha256 == entry.sha256
    return record.sha1 == entry.oid


def select_files(
    tree: Iterable[TreeEntry],
    allow_patterns: Patterns = None,
    ignore_patterns: Patterns = None,
    *,
    prefix: str = "",
) -> dict[str, TreeEntry]:
    """The files to store, by folder name: patterns applied, every path checked.

    Patterns are ``huggingface_hub``'s globs (``*`` crosses ``/``). Paths come from
    the Hub and are refused unless they are clean relative keys that cannot reach
    outside the folder or take the place of the metadata file; with ``prefix`` (the
    model's folder) they must also make valid keys below it, so that a path too
    long for the store is refused before any file is fetched.
    """
    allow = [allow_patterns] if isinstance(allow_patterns, str) else allow_patterns
    ignore = [ignore_patterns] if isinstance(ignore_patterns, str) else ignore_patterns
    chosen = filter_repo_objects(
        list(tree),
        allow_patterns=None if allow is None else list(allow),
        ignore_patterns=None if ignore is None else list(ignore),
        key=lambda e: e.path,
    )
    out: dict[str, TreeEntry] = {}
    for entry in chosen:
        name = store_name(_checked_path(entry.path, prefix))
        if name in out:
            raise LayoutCollisionError(
                f"the repo lists {out[name].path!r} and {entry.path!r}, which would both be "
                f"stored as {name!r}; exclude one of them (ignore_patterns)"
            )
        out[name] = entry
    clash = sorted(_all_parents(out) & out.keys())
    if clash:
        raise LayoutCollisionError(f"the repo lists {clash[0]!r} both as a file and as a folder")
    return out


def _all_parents(names: Iterable[str]) -> set[str]:
    parents: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parents.add("/".join(parts[:i]))
    return parents


def _checked_path(path: str, prefix: str = "") -> str:
    try:
        validate_key(path)
        if prefix:
            validate_key(f"{prefix}/{store_name(path)}")
    except InvalidKeyError as exc:
        raise InvalidKeyError(
            f"the Hub lists a file at {path!r}, which cannot be stored safely "
            f"({str(exc).rpartition(': ')[2] or exc}); the model was not downloaded"
        ) from None
    base = path.rpartition("/")[2]
    if base == METADATA_FILE or any(p.startswith(_HGLOC_PREFIX) for p in path.split("/")):
        raise InvalidKeyError(
            f"the Hub lists a file at {path!r}, a name hgloc keeps for itself; "
            "the model was not downloaded"
        )
    if any(p.lower() == ".git" for p in path.split("/")):
        # No Hub repo can hold one (git keeps it for itself); stored, its hooks would run
        # for anyone using git in the model folder.
        raise InvalidKeyError(
            f"the Hub lists a file at {path!r}, inside a '.git' folder, which no real repo "
            "holds; the model was not downloaded"
        )
    return path


@attrs.frozen
class Outcome:
    """What one full-model download did, and at which commit the folder now is."""

    fetched: bool  # False: the folder held it already
    commit: str | None


@attrs.define
class FullModelJob:
    """Bring one model folder to every file of its repo at one commit (or a pattern's share)."""

    source: Callable[[], HuggingFaceSource]  # created on first use: no token lookup before
    backend: StorageBackend
    settings: TransferSettings
    slots: anyio.Semaphore
    staging_root: Path
    model_id: str
    revision: str | None
    prefix: str
    make_record: RecordFactory
    on_bytes: ByteProgress | None = None

    async def run(
        self,
        existing: ModelRecord | None,
        *,
        refresh: bool,
        skip_hf_fetch: bool,
        allow_patterns: Patterns = None,
        ignore_patterns: Patterns = None,
    ) -> Outcome:
        """Fetch what the folder lacks of the (selected) files at one commit, then mark it.

        ``existing`` is the folder's current metadata. Without ``refresh`` a folder
        is completed at the commit it holds; with it, at the revision's commit now.
        """
        if existing is not None and existing.is_full_model and not refresh:
            return Outcome(False, existing.commit)
        if skip_hf_fetch:
            raise OfflineModeError(
                f"{self.model_id!r} is not fully in the store and skip_hf_fetch forbids "
                "asking the Hub for its files"
            )
        commit, repo_id = await self._commit(existing, refresh)
        if existing is not None and existing.is_full_model and existing.commit == commit:
            return Outcome(False, commit)
        tree = await self.source().list_tree(repo_id, commit)
        if not tree:
            raise HubError(f"{self.model_id!r} at {commit} has no files: nothing to localize")
        selected = select_files(tree, allow_patterns, ignore_patterns, prefix=self.prefix)
        if not selected:
            raise HubError(
                f"no file of {self.model_id!r} matches the patterns (allow {allow_patterns!r}, "
                f"ignore {ignore_patterns!r})"
            )
        staging = model_staging(self.staging_root, self.prefix, commit)
        journal = Journal(staging, self.model_id)
        journaled = await anyio.to_thread.run_sync(journal.load)
        same_commit = existing is not None and existing.commit == commit
        old = dict(existing.files) if existing is not None else {}
        kept, todo = await self._split(selected, old, journaled)
        check_sizes(
            self.model_id, todo, max_file_size=self.settings.max_file_size, needs=self._needs(todo)
        )

        files = {**(old if same_commit else {}), **{n: file_record(e) for n, e in selected.items()}}
        is_full = all(store_name(e.path) in files for e in tree)
        unchanged = files == old and existing is not None and is_full == existing.is_full_model
        if same_commit and not todo and unchanged:
            return Outcome(False, commit)
        meta_key = f"{self.prefix}/{METADATA_FILE}"
        if existing is not None and not same_commit:
            # The folder stops counting as cached before any file changes; what it keeps
            # goes to the journal first, so a crash from here on does not refetch it.
            await anyio.to_thread.run_sync(journal.add, {n: file_record(selected[n]) for n in kept})
            await self.backend.delete(meta_key)

        await self._fetch_all(repo_id, commit, todo, staging, journal)

        if existing is not None and not same_commit:
            for name in sorted(old.keys() - files.keys()):
                await self.backend.delete(f"{self.prefix}/{name}")  # gone from the repo
        record = self.make_record(commit, files, repo_id, is_full)
        await self.backend.write(meta_key, record.to_bytes())
        await anyio.to_thread.run_sync(remove_model_staging, self.staging_root, self.prefix)
        logger.info(
            "cached %s@%s (%s): %d files fetched, %d kept, %s",
            self.model_id,
            self.revision or "default",
            commit,
            len(todo),
            len(kept),
            "full model" if is_full else "selected files",
        )
        return Outcome(True, commit)

    def _needs(self, todo: Mapping[str, TreeEntry]) -> dict[Path, int]:
        """Bytes the plan writes per folder: big files are staged, then renamed or copied."""
        big = sum(e.size for e in todo.values() if e.size > self.settings.in_memory_max)
        needs = {self.staging_root: big} if big else {}
        if isinstance(self.backend, LocalPaths):
            # A rename lands staged bytes on the same disk: counted once, in the total.
            needs[self.backend.root] = max(needs.get(self.backend.root, 0), _total(todo))
        return needs

    async def _commit(self, existing: ModelRecord | None, refresh: bool) -> tuple[str, str]:
        """The commit to fetch and the repo's current id (after a rename)."""
        if existing is not None and not refresh and is_commit(existing.commit):
            # Complete what the folder holds, at its commit; refresh moves it.
            assert existing.commit is not None
            return existing.commit, existing.resolved_repo_id or self.model_id
        info = await self.source().model_info(self.model_id, self.revision)
        sha = info.get("sha")
        if not isinstance(sha, str) or not is_commit(sha):
            raise HubError(f"the Hub's model info for {self.model_id!r} carries no valid commit")
        repo_id = info.get("id")
        try:
            return sha, _validate_model_id(repo_id) if isinstance(repo_id, str) else self.model_id
        except InvalidModelIdError:
            return sha, self.model_id

    async def _split(
        self,
        selected: Mapping[str, TreeEntry],
        old: Mapping[str, FileRecord],
        journaled: Mapping[str, FileRecord],
    ) -> tuple[list[str], dict[str, TreeEntry]]:
        """Files already stored with the right content, and the rest.

        A file the metadata or the journal vouches for is kept when its size is right.
        One in place at the right size that neither lists (a kill landed between its
        rename and its journal line) is hashed, and kept if it matches.
        """
        here = f"{self.prefix}/"
        sizes = {
            info.key[len(here) :]: info.size
            async for info in self.backend.list(self.prefix)
            if info.key.startswith(here)
        }
        present: set[str] = set()
        unsure: list[str] = []
        for name, entry in selected.items():
            if sizes.get(name) != entry.size:
                continue
            if _holds(old.get(name), entry) or _holds(journaled.get(name), entry):
                present.add(name)
            else:
                unsure.append(name)
        limiter = anyio.Semaphore(_STAT_CONCURRENCY)

        async def check(name: str) -> None:
            async with limiter:
                if await stored_matches(self.backend, f"{self.prefix}/{name}", selected[name]):
                    present.add(name)

        async with anyio.create_task_group() as tg:
            for name in unsure:
                tg.start_soon(check, name)
        kept = sorted(present)
        todo = {n: e for n, e in selected.items() if n not in present}
        return kept, todo

    async def _fetch_all(
        self,
        repo_id: str,
        commit: str,
        todo: Mapping[str, TreeEntry],
        staging: Path,
        journal: Journal,
    ) -> None:
        progress = Progress(
            self.on_bytes, sum(e.size for e in todo.values()), self.settings.progress_interval
        )
        progress.start()
        rename = isinstance(self.backend, LocalPaths) and any(
            e.size > self.settings.in_memory_max for e in todo.values()
        )
        if rename:
            assert isinstance(self.backend, LocalPaths)
            rename = await anyio.to_thread.run_sync(same_filesystem, staging, self.backend.root)
        biggest_first = sorted(todo.items(), key=lambda item: -item[1].size)
        await gather(
            *(
                functools.partial(
                    self._fetch_one,
                    repo_id,
                    commit,
                    name,
                    entry,
                    staging,
                    journal,
                    progress,
                    rename,
                )
                for name, entry in biggest_first
            )
        )

    async def _fetch_one(
        self,
        repo_id: str,
        commit: str,
        name: str,
        entry: TreeEntry,
        staging: Path,
        journal: Journal,
        progress: Progress,
        rename: bool,
    ) -> None:
        key = f"{self.prefix}/{name}"
        if entry.size <= self.settings.in_memory_max:
            async with self.slots:
                hub_file = await self.source().fetch(
                    repo_id, commit, entry.path, max_bytes=entry.size
                )
            verify_bytes(hub_file.data, entry)
            await self.backend.write(key, hub_file.data)
            progress.add(entry.size)
        else:
            job = BigFileJob(
                source=self.source(),
                backend=self.backend,
                key=key,
                repo_id=repo_id,
                commit=commit,
                entry=entry,
                settings=self.settings,
                slots=self.slots,
                staging=staging,
                progress=progress,
                rename_into_place=rename,
            )
            await fetch_big_file(job)
        # The file is in place: its journal line is written even when the run is being
        # cancelled, so the next run keeps it instead of fetching it again.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(journal.add, {name: file_record(entry)})
