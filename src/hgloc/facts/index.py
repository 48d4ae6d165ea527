"""The facts index: one sqlite file beside the models, derived from them and rebuildable.

One row per model folder (its key prefix): the model id, revision and commit,
a stamp of its metadata file (to see that the folder changed) and the facts as
JSON, queried with sqlite's JSON functions. The file holds nothing that the
store does not: a damaged or outdated one is thrown away and rebuilt.

sqlite calls block; :class:`FactsIndex` runs them in a worker thread, one at
a time.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import attrs

from hgloc.facts._store import INDEX_FILE_NAME
from hgloc.facts.expression import Compiled, SortKey
from hgloc.facts.normalize import Facts
from hgloc.sources._hub_protocol import is_commit

__all__ = ["FACTS_VERSION", "INDEX_FILE_NAME", "FactsIndex", "IndexRow"]

logger = logging.getLogger("hgloc")

# Bumped whenever the facts computed from a model change: older rows are recomputed.
FACTS_VERSION = "1"

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    prefix TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    model_id TEXT NOT NULL,
    revision TEXT,
    commit_sha TEXT,
    stamp TEXT NOT NULL,
    facts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_by_id ON models (scope, model_id, revision);
"""
_COLUMNS = "prefix, scope, model_id, revision, commit_sha, stamp, facts"


@attrs.frozen
class IndexRow:
    """One model folder as the index holds it."""

    prefix: str
    scope: str
    model_id: str
    revision: str | None
    commit: str | None
    stamp: str
    facts: Facts

    def as_tuple(self) -> tuple[Any, ...]:
        facts = json.dumps(self.facts.to_json(), ensure_ascii=False, allow_nan=False)
        return (self.prefix, self.scope, self.model_id, self.revision, self.commit, self.stamp,
                facts)  # fmt: skip

    @classmethod
    def from_tuple(cls, row: Sequence[Any]) -> IndexRow:
        prefix, scope, model_id, revision, commit, stamp, facts = row
        return cls(prefix, scope, model_id, revision, commit, stamp,
                   Facts.from_json(json.loads(facts)))  # fmt: skip


def _regexp(pattern: str, value: object) -> bool:
    return isinstance(value, str) and re.search(pattern, value) is not None


class FactsIndex:
    """The sqlite index at ``path`` (``None``: in memory, for stores that are not folders)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)

    async def _run(self, func: Callable[[sqlite3.Connection], _T]) -> _T:
        def call() -> _T:
            return func(self._connection())

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                assert self.path is not None  # an in-memory database is never damaged
                logger.warning("rebuilding the facts index %s: %s", self.path, exc)
                self.path.unlink(missing_ok=True)
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        try:
            db.create_function("regexp", 2, _regexp, deterministic=True)
            db.execute("PRAGMA busy_timeout = 10000")  # another hgloc process may be writing
            db.executescript(_SCHEMA)
            version = db.execute("SELECT value FROM meta WHERE key = 'facts_version'").fetchone()
            if version is None or version[0] != FACTS_VERSION:
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("DELETE FROM models")
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('facts_version', ?)", (FACTS_VERSION,)
                    )
        except BaseException:
            db.close()
            raise
        return db

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await anyio.to_thread.run_sync(db.close, limiter=self._limiter)

    async def stamps(self, scope: str) -> dict[str, str]:
        """``{prefix: stamp}`` of every row of ``scope``."""
        return dict(
            await self._run(
                lambda db: db.execute(
                    "SELECT prefix, stamp FROM models WHERE scope = ?", (scope,)
                ).fetchall()
            )
        )

    async def apply(self, upserts: Iterable[IndexRow], deletes: Iterable[str] = ()) -> None:
        """Add or replace rows and remove others, in one transaction."""
        rows = [r.as_tuple() for r in upserts]
        gone = [(p,) for p in deletes]
        if not rows and not gone:
            return

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("DELETE FROM models WHERE prefix = ?", gone)
                db.executemany(f"INSERT OR REPLACE INTO models ({_COLUMNS}) VALUES "
                               "(?, ?, ?, ?, ?, ?, ?)", rows)  # fmt: skip

        await self._run(write)

    async def clear(self) -> None:
        """Forget every row (``rebuild``): the next refresh reads every folder again."""
        await self._run(lambda db: db.execute("DELETE FROM models"))

    async def select(
        self,
        scopes: Sequence[str],
        compiled: Compiled | None = None,
        *,
        sort: SortKey | None = None,
        limit: int | None = None,
    ) -> list[IndexRow]:
        """The rows of ``scopes`` matching ``compiled`` (every row without), sorted, limited."""
        params: dict[str, Any] = dict(compiled.params) if compiled is not None else {}
        scope_names = []
        for i, scope in enumerate(scopes):
            params[f"scope{i}"] = scope
            scope_names.append(f":scope{i}")
        if not scope_names:
            return []
        sql = f"SELECT {_COLUMNS} FROM models WHERE scope IN ({', '.join(scope_names)})"
        if compiled is not None:
            sql += f" AND {compiled.where}"
        order = f"{sort.sql}, " if sort is not None else ""
        sql += f" ORDER BY {order}model_id, revision IS NOT NULL, revision, scope"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        found = await self._run(lambda db: db.execute(sql, params).fetchall())
        return [IndexRow.from_tuple(r) for r in found]

    async def find(
        self, scopes: Sequence[str], model_id: str, revision: str | None
    ) -> IndexRow | None:
        """The row of one model, looked for in ``scopes`` in order.

        A full commit id also finds the row of a branch or tag stored at that
        commit (as :meth:`hgloc.Localizer.cached` does).
        """
        wheres = [("revision IS ?", revision)]
        if is_commit(revision):
            wheres.append(("commit_sha = ?", revision))
        queries = [
            (
                f"SELECT {_COLUMNS} FROM models WHERE scope = ? AND model_id = ? AND {where} "
                "ORDER BY revision IS NOT NULL, revision LIMIT 1",
                (scope, model_id, value),
            )
            for where, value in wheres
            for scope in scopes
        ]
        for sql, params in queries:

            def one(db: sqlite3.Connection, sql: str = sql, params: Any = params) -> Any:
                return db.execute(sql, params).fetchone()

            found = await self._run(one)
            if found is not None:
                return IndexRow.from_tuple(found)
        return None
