"""Branches and tags: what the Hub has, what the store holds for each, and which are behind.

The store keeps one folder per revision name (HG-Localization's layout) and
each folder's metadata records the commit the name resolved to when it was
fetched: the store's ``refs``, readable offline. :func:`read_stored_refs` lists them;
:func:`compare_refs` sets them beside the Hub's (``GET /api/models/{repo}/refs``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from hgloc.layout import validate_model_id
from hgloc.sources._hub_protocol import is_commit
from hgloc.sources._refs import HubRefs
from hgloc.store import ModelStore

__all__ = [
    "DEFAULT_BRANCH",
    "RefRow",
    "RefState",
    "RefsReport",
    "StoredRef",
    "compare_refs",
    "read_stored_refs",
]

DEFAULT_BRANCH = "main"  # what a folder fetched without a revision is compared with


class RefState(enum.StrEnum):
    """How a stored revision compares with the Hub's."""

    CURRENT = "current"  # the store holds the commit the name points at now
    BEHIND = "behind"  # a branch that moved on since it was stored
    MOVED = "moved"  # a tag that points elsewhere now (tags should not move)
    NOT_STORED = "not stored"
    PINNED = "pinned"  # a commit stored by its hash: never moves
    GONE = "gone"  # stored under a name the Hub no longer has
    OFFLINE = "offline"  # the Hub was not asked


@attrs.frozen
class StoredRef:
    """One revision the store holds: the name asked for and the commit it resolved to."""

    model_id: str
    revision: str | None
    commit: str | None
    full: bool
    cached_timestamp: str
    path: str

    @property
    def name(self) -> str:
        """The revision as the Hub names it (the default folder counts as ``main``)."""
        return self.revision or DEFAULT_BRANCH

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class RefRow:
    """One line of ``hgloc refs``: a name, the Hub's commit and the store's."""

    name: str
    kind: str  # "branch", "tag", "commit" or "revision" (a name the Hub does not list)
    hub_commit: str | None
    stored_commit: str | None
    state: RefState
    stored_as: str | None = None  # the revision folder, when it is not the name itself

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "state": self.state.value}


@attrs.frozen
class RefsReport:
    """The refs of one model, Hub and store side by side."""

    model_id: str
    rows: tuple[RefRow, ...]
    online: bool

    @property
    def behind(self) -> list[RefRow]:
        """Stored branches (and moved tags) the Hub has moved past."""
        return [r for r in self.rows if r.state in (RefState.BEHIND, RefState.MOVED)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "online": self.online,
            "refs": [r.as_dict() for r in self.rows],
        }


async def read_stored_refs(models: ModelStore, model_folder: str, model_id: str) -> list[StoredRef]:
    """The revisions of ``model_id`` held completely in ``model_folder`` (its folder's prefix)."""
    validate_model_id(model_id)
    out = []
    for stored in await models.list(model_folder):
        record = stored.record
        if record.model_id != model_id or stored.prefix.rpartition("/")[0] != model_folder:
            continue
        out.append(
            StoredRef(
                model_id=record.model_id,
                revision=record.revision,
                commit=record.commit,
                full=record.is_full_model,
                cached_timestamp=record.cached_timestamp,
                path=models.backend.location(stored.prefix),
            )
        )
    return sorted(out, key=lambda r: (r.revision is not None, r.revision or ""))


def _state(kind: str, hub: str, stored: str | None) -> RefState:
    if stored is None:
        return RefState.NOT_STORED
    if stored == hub:
        return RefState.CURRENT
    return RefState.BEHIND if kind == "branch" else RefState.MOVED


def compare_refs(model_id: str, stored: Sequence[StoredRef], hub: HubRefs | None) -> RefsReport:
    """The Hub's branches and tags beside what the store holds (``hub=None``: offline)."""
    by_name: dict[str, list[StoredRef]] = {}
    for ref in stored:
        by_name.setdefault(ref.name, []).append(ref)
    rows: list[RefRow] = []
    matched: set[int] = set()
    if hub is not None:
        named: Iterable[tuple[str, str, str]] = [
            *(("branch", n, c) for n, c in sorted(hub.branches.items())),
            *(("tag", n, c) for n, c in sorted(hub.tags.items())),
        ]
        for kind, name, commit in named:
            held: list[StoredRef | None] = [*by_name.get(name, [])] or [None]
            for one in held:
                if one is not None:
                    matched.add(id(one))
                at = None if one is None else one.commit
                default = one is not None and one.revision is None
                rows.append(
                    RefRow(
                        name,
                        kind,
                        commit,
                        at,
                        _state(kind, commit, at),
                        stored_as="(default folder)" if default else None,
                    )
                )
    for ref in stored:
        if id(ref) in matched:
            continue
        pinned = is_commit(ref.revision)
        if hub is None:
            state = RefState.PINNED if pinned else RefState.OFFLINE
        else:
            state = RefState.PINNED if pinned else RefState.GONE
        rows.append(
            RefRow(
                ref.name,
                "commit" if pinned else "revision",
                None,
                ref.commit,
                state,
                stored_as="(default folder)" if ref.revision is None else None,
            )
        )
    return RefsReport(model_id, tuple(rows), hub is not None)
