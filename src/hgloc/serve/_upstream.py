"""Pull-through: a miss is fetched from the upstream Hub by the localizer, stored, then served.

What a request needs decides what is fetched: the card and config (metadata
only) for model info and for those two files; the whole repo for a tree
listing or any other file. Before a whole repo is fetched for one file, the
upstream tree (one cheap listing, remembered per commit) must show that file:
clients probe many optional files (``adapter_config.json``...), and a probe
must not download a model's weights.

Requests for one model wait on one lock, so a burst of requests for the same
missing file fetches it once; requests that waited while an identical fetch
failed get the same error instead of asking upstream again, and a "not found"
is remembered for a few seconds (a client retrying, or many clients asking
for a repo that does not exist, cost upstream one request).
"""

from __future__ import annotations

import enum
import logging
import time
from typing import TYPE_CHECKING

import anyio
import attrs

from hgloc.errors import (
    EntryNotFoundError,
    HubError,
    HubUnavailableError,
    OfflineModeError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from hgloc.layout import CARD_REPO_PATH, CONFIG_FILE
from hgloc.serve._catalog import DEFAULT_BRANCH, Catalog, Snapshot
from hgloc.serve._replicas import across_replicas

if TYPE_CHECKING:
    from hgloc.localize import Localizer

__all__ = ["METADATA_PATHS", "Step", "Upstream", "Want", "next_step"]

logger = logging.getLogger("hgloc.serve")

METADATA_PATHS = frozenset({CARD_REPO_PATH, CONFIG_FILE})
_TREE_MEMORY = 256  # upstream trees remembered (model, commit) -> paths
_NOT_FOUND_MEMORY = 1024
_NOT_FOUND = (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)


@attrs.frozen
class Want:
    """What a request needs from a model folder.

    ``path``: one file (``None``: nothing in particular, as model info);
    ``whole``: every file of the repo (a tree listing).
    """

    path: str | None = None
    whole: bool = False


class Step(enum.Enum):
    """What to fetch next for a request, given what the store holds."""

    METADATA = "metadata"  # card and config: establishes the model and its commit
    PROBE = "probe"  # ask upstream's tree whether the file exists, then fetch the whole repo
    FULL = "full"  # the whole repo, at the commit the folder holds


def next_step(snap: Snapshot | None, want: Want) -> Step | None:
    """The fetch ``want`` needs when the store holds ``snap``; ``None``: serve what is there.

    >>> next_step(None, Want("config.json"))
    <Step.METADATA: 'metadata'>
    """
    if snap is None:
        return Step.METADATA
    if snap.is_full_model:
        return None
    if want.whole:
        return Step.FULL
    if want.path is None or want.path in snap.files or want.path in METADATA_PATHS:
        # A metadata-only folder knows its card and config: one it lacks, the repo lacks.
        return None
    return Step.PROBE


@attrs.define
class _Flight:
    """Requests for one model: the lock they queue on, and the last fetch's failure."""

    lock: anyio.Lock = attrs.field(factory=anyio.Lock)
    waiting: int = 0
    finished: int = 0  # fetches done (failed or not)
    failed: tuple[tuple[str, Want], Exception] | None = None


class Upstream:
    """Fetches what the catalog lacks through ``localizer`` (its endpoint is the upstream Hub).

    ``bucket=True``: the catalog reads the team bucket, so what the localizer
    fetched into its local store is uploaded there before it is served.
    """

    def __init__(
        self,
        localizer: Localizer,
        catalog: Catalog,
        *,
        bucket: bool = False,
        not_found_seconds: float = 5.0,
    ) -> None:
        self.localizer = localizer
        self.catalog = catalog
        self.bucket = bucket
        self.not_found_seconds = not_found_seconds
        self.endpoint = localizer.config.endpoint
        self._flights: dict[str, _Flight] = {}
        self._trees: dict[tuple[str, str], frozenset[str]] = {}
        self._not_found: dict[tuple[str, str, Want], tuple[float, Exception]] = {}

    def wants_fetch(self, snap: Snapshot | None, want: Want) -> bool:
        """Whether :meth:`ensure` may have work to do (no lock taken when not)."""
        return next_step(snap, want) is not None

    async def ensure(self, model_id: str, revision: str, want: Want) -> None:
        """Fetch what ``want`` needs of ``model_id`` at ``revision`` unless the store has it.

        Raises hgloc's errors: :class:`~hgloc.errors.RepositoryNotFoundError`,
        :class:`~hgloc.errors.RevisionNotFoundError`, ... (mapped to the Hub's
        error codes by the app).
        """
        known = self._not_found.get((model_id, revision, want))
        if known is not None and known[0] > time.monotonic():
            raise known[1]
        flight = self._flights.setdefault(model_id, _Flight())
        flight.waiting += 1
        seen = flight.finished  # a fetch under way when we came counts: we waited for it
        try:
            async with flight.lock:
                failed = flight.failed
                if flight.finished > seen and failed is not None and failed[0] == (revision, want):
                    raise failed[1]  # the same fetch just failed: do not ask again
                try:
                    await across_replicas(self, model_id, revision, want, self._fetch)
                except Exception as exc:
                    flight.failed = ((revision, want), exc)
                    if isinstance(exc, _NOT_FOUND):
                        self._remember_not_found((model_id, revision, want), exc)
                    raise
                else:
                    flight.failed = None
                finally:
                    flight.finished += 1
        finally:
            flight.waiting -= 1
            if flight.waiting == 0:
                del self._flights[model_id]

    def _remember_not_found(self, key: tuple[str, str, Want], exc: Exception) -> None:
        if len(self._not_found) >= _NOT_FOUND_MEMORY:
            self._not_found.clear()
        self._not_found[key] = (time.monotonic() + self.not_found_seconds, exc)

    async def _fetch(self, model_id: str, revision: str, want: Want) -> None:
        snap = await self.catalog.find(model_id, revision)
        step = next_step(snap, want)
        if step is None:
            return  # a request before us fetched it
        requested = None if revision == DEFAULT_BRANCH else revision
        if snap is None:
            try:
                await self._download(model_id, requested, metadata_only=True)
            except (
                RepositoryNotFoundError,
                RevisionNotFoundError,
                HubUnavailableError,
                OfflineModeError,
            ):
                raise
            except HubError:
                # Neither a card nor a config: only the whole repo can answer for it.
                if want.path in METADATA_PATHS or (want.path is None and not want.whole):
                    raise
                await self._download(model_id, requested, metadata_only=False)
                return
            snap = await self.catalog.find(model_id, revision)
            step = next_step(snap, want)
            if snap is None or step is None:
                return
        if (
            step is Step.PROBE
            and want.path is not None
            and want.path not in await self._upstream_paths(snap)
        ):
            return  # upstream lacks it too: the app answers EntryNotFound
        # Completing the folder that answered keeps its commit: the request may name it.
        await self._download(model_id, snap.revision, metadata_only=False)

    async def _download(self, model_id: str, revision: str | None, *, metadata_only: bool) -> None:
        loc = self.localizer
        what = "card and config" if metadata_only else "every file"
        logger.info(
            "fetching %s of %s@%s from %s", what, model_id, revision or "main", self.endpoint
        )
        try:
            if self.bucket and not metadata_only:
                # The local copy must hold the bucket's folder first, so the whole repo is
                # fetched at the commit the bucket already serves.
                await loc.download(model_id, revision, metadata_only=True)
            await loc.download(model_id, revision, metadata_only=metadata_only)
            if self.bucket:
                tier = await loc.bucket()
                record = None if tier is None else await tier.load(model_id, revision)
                if record is None or (not metadata_only and not record.is_full_model):
                    await loc.upload(model_id, revision)  # held locally already: not uploaded
        finally:
            self.catalog.forget(model_id)

    async def _upstream_paths(self, snap: Snapshot) -> frozenset[str]:
        repo_id = snap.record.resolved_repo_id or snap.model_id
        commit = snap.record.commit or snap.revision or DEFAULT_BRANCH
        paths = self._trees.get((repo_id, commit))
        if paths is None:
            try:
                tree = await self.localizer.source.list_tree(repo_id, commit)
            except EntryNotFoundError:
                tree = []
            paths = frozenset(entry.path for entry in tree)
            if len(self._trees) >= _TREE_MEMORY:
                self._trees.clear()
            self._trees[(repo_id, commit)] = paths
        return paths
