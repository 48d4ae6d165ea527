"""Compare and query stored models: the async API (blocking wrappers go in ``hgloc.sync``).

Everything answers from the store, offline: facts are read once per model
folder into the sqlite index (:mod:`hgloc.facts.index`) and kept current
lazily. Only :func:`fetch_parameters` (or ``compare(..., fetch_parameters=True)``)
talks to the Hub, to count the weights of metadata-only models from their
safetensors headers.

>>> result = await query('model_type == "llama" and context >= 32768')  # doctest: +SKIP
>>> [m.model_id for m in result.matches]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from hgloc.errors import HglocError, ObjectNotFoundError
from hgloc.facts import _store
from hgloc.facts.collect import refresh
from hgloc.facts.compare import Comparison, build_comparison
from hgloc.facts.expression import compile_expression, compile_sort
from hgloc.facts.index import INDEX_FILE_NAME, FactsIndex, IndexRow
from hgloc.facts.normalize import Facts
from hgloc.facts.sidecar import sidecar_bytes, sidecar_counts

if TYPE_CHECKING:
    from hgloc.config import Config
    from hgloc.localize import Localizer, ModelRef

__all__ = [
    "FetchedParameters",
    "ModelFacts",
    "QueryResult",
    "compare",
    "fetch_parameters",
    "model_facts",
    "query",
    "rebuild_index",
]

logger = logging.getLogger("hgloc")


@attrs.frozen
class ModelFacts:
    """One stored model and its facts."""

    model_id: str
    revision: str | None
    commit: str | None
    facts: Facts

    @property
    def label(self) -> str:
        return self.model_id if self.revision is None else f"{self.model_id}@{self.revision}"

    @classmethod
    def from_row(cls, row: IndexRow) -> ModelFacts:
        return cls(row.model_id, row.revision, row.commit, row.facts)

    def to_json(self, fields: Sequence[str] | None = None) -> dict[str, Any]:
        """``model_id``, ``revision`` and the facts (or just ``fields``; ``None`` if absent)."""
        facts = self.facts.to_json()
        out: dict[str, Any] = {"model_id": self.model_id, "revision": self.revision}
        if fields is None:
            return {**out, "commit": self.commit, **facts}
        for field in fields:
            if field not in out:
                out[field] = self.commit if field == "commit" else facts.get(field)
        return out


@attrs.frozen
class QueryResult:
    """The models an expression matched, in order, and the fields it read."""

    expression: str
    fields: tuple[str, ...]
    matches: tuple[ModelFacts, ...]

    def to_json(self) -> list[dict[str, Any]]:
        """One object per match: ``model_id``, ``revision`` and the fields used."""
        return [m.to_json(self.fields) for m in self.matches]


@attrs.frozen
class FetchedParameters:
    """What :func:`fetch_parameters` did for one model."""

    model_id: str
    revision: str | None
    fetched: bool  # False: already known (stored files or a current summary)
    parameters: int | None


@contextlib.asynccontextmanager
async def _opened(
    config: Config | None, localizer: Localizer | None
) -> AsyncIterator[tuple[Localizer, FactsIndex]]:
    """A localizer (the caller's, or one opened here) and the store's index, brought up to date."""
    async with contextlib.AsyncExitStack() as stack:
        if localizer is None:
            from hgloc.localize import Localizer

            localizer = await stack.enter_async_context(Localizer(config))
        index = FactsIndex(_store.index_file(localizer, INDEX_FILE_NAME))
        stack.push_async_callback(index.aclose)
        await refresh(localizer, index)
        yield localizer, index


async def query(
    expression: str,
    *,
    sort: str | None = None,
    limit: int | None = None,
    config: Config | None = None,
    localizer: Localizer | None = None,
) -> QueryResult:
    """The stored models whose facts match ``expression`` (see :mod:`hgloc.facts.expression`).

    ``sort``: a field, ``-field`` for descending (absent values last); ties
    and the default order go by model id. ``limit``: at most that many.
    Raises :class:`~hgloc.errors.ExpressionError` (a ``ValueError``)
    pointing at the fault of a malformed expression or sort field.
    """
    compiled = compile_expression(expression)
    sort_key = compile_sort(sort) if sort else None
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")
    fields = compiled.fields
    if sort_key is not None and sort_key.field not in fields:
        fields += (sort_key.field,)
    async with _opened(config, localizer) as (loc, index):
        rows = await index.select(_store.scopes(loc), compiled, sort=sort_key, limit=limit)
    return QueryResult(expression, fields, tuple(ModelFacts.from_row(r) for r in rows))


async def model_facts(
    *, config: Config | None = None, localizer: Localizer | None = None
) -> list[ModelFacts]:
    """The facts of every stored model (for a page that plots or filters them itself)."""
    async with _opened(config, localizer) as (loc, index):
        rows = await index.select(_store.scopes(loc))
    return [ModelFacts.from_row(r) for r in rows]


def _refs(refs: Sequence[str | ModelRef]) -> list[ModelRef]:
    from hgloc.localize import ModelRef, parse_model_ref

    return [r if isinstance(r, ModelRef) else parse_model_ref(r) for r in refs]


async def compare(
    refs: Sequence[str | ModelRef],
    *,
    context: int | None = None,
    fetch_parameters: bool = False,
    config: Config | None = None,
    localizer: Localizer | None = None,
) -> Comparison:
    """Stored models side by side: their facts, then their ``config.json`` keys.

    ``refs``: ``org/name`` or ``org/name@revision``, each held by the store
    (else :class:`~hgloc.errors.ObjectNotFoundError`). ``context``: add each
    model's ``total_bytes`` (weights plus the KV cache of that many tokens).
    ``fetch_parameters``: first count the weights of metadata-only models from
    the Hub's safetensors headers (stored for later, offline use).
    """
    wanted = _refs(refs)
    if not wanted:
        raise ValueError("name at least one model to compare")
    if context is not None and context < 0:
        raise ValueError(f"context must be 0 or more tokens, got {context}")
    if fetch_parameters:
        await _fetch(wanted, config, localizer)
    async with _opened(config, localizer) as (loc, index):
        rows = []
        for ref in wanted:
            row = await index.find(_store.scopes(loc), ref.model_id, ref.revision)
            if row is None:
                raise ObjectNotFoundError(
                    f"{ref} is not in the store {_store.store_name(loc)}: download it first"
                )
            rows.append(row)
        configs = [await loc.cached_config(ref.model_id, ref.revision) for ref in wanted]
    return build_comparison(
        [str(ref) for ref in wanted], [r.facts for r in rows], configs, context=context
    )


async def fetch_parameters(
    refs: Sequence[str | ModelRef],
    *,
    config: Config | None = None,
    localizer: Localizer | None = None,
) -> list[FetchedParameters]:
    """Count the weights of stored metadata-only models from the Hub's safetensors headers.

    A few KB per weight file travel (HTTP Range requests); the counts are kept
    beside the model, so queries and comparisons use them offline. Models
    stored in full, or already counted at their commit, need no request.
    """
    return await _fetch(_refs(refs), config, localizer)


async def _fetch(
    refs: list[ModelRef], config: Config | None, localizer: Localizer | None
) -> list[FetchedParameters]:
    from hgloc.facts.hub_params import fetch_counts

    out = []
    async with _opened(config, localizer) as (loc, index):
        forced = []
        for ref in refs:
            prefix, record = None, None
            for candidate in _store.model_prefixes(loc, ref.model_id, ref.revision):
                record = (await _store.read_records(loc, [candidate])).get(candidate)
                if record is not None and record.revision == ref.revision:
                    prefix = candidate
                    break
            if prefix is None or record is None:
                raise ObjectNotFoundError(f"{ref} is not in the store: download it first")
            key = f"{prefix}/{_store.SAFETENSORS_FILE}"
            stored = await _store.read(loc, key)
            known = stored is not None and sidecar_counts(stored, record.commit)[0]
            if not record.is_full_model and not known:
                files = await fetch_counts(
                    loc.source, ref.model_id, record.commit or ref.revision or "main"
                )
                await _store.write(loc, key, sidecar_bytes(record.commit, files))
                forced.append(prefix)
            out.append((ref, prefix, not record.is_full_model and not known))
        await refresh(loc, index, force=forced)
        results = []
        for ref, _prefix, fetched in out:
            row = await index.find(_store.scopes(loc), ref.model_id, ref.revision)
            total = row.facts.get("parameters") if row is not None else None
            results.append(
                FetchedParameters(
                    ref.model_id, ref.revision, fetched, total if isinstance(total, int) else None
                )
            )
    return results


async def rebuild_index(*, config: Config | None = None, localizer: Localizer | None = None) -> int:
    """Throw the facts index away and read every model folder again; returns how many."""
    async with contextlib.AsyncExitStack() as stack:
        if localizer is None:
            from hgloc.localize import Localizer

            localizer = await stack.enter_async_context(Localizer(config))
        index = FactsIndex(_store.index_file(localizer, INDEX_FILE_NAME))
        stack.push_async_callback(index.aclose)
        await index.clear()
        try:
            return await refresh(localizer, index)
        except HglocError:
            logger.warning("the facts index of %s could not be rebuilt", localizer.backend.name)
            raise
