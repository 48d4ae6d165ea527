"""Models side by side: one row per field, one value per model, rows that differ marked.

Pure: facts and configs in, a :class:`Comparison` out. The normalized facts
come first (in :data:`~hgloc.facts.normalize.FACT_FIELDS` order, then the
multimodal and weight facts), then every ``config.json`` key, flattened with
dotted names (``config.text_config.hidden_size``).

>>> c = build_comparison(["a", "b"], [{"layers": 2}, {"layers": 4}], [None, None])
>>> c.to_json()["rows"]
[{'field': 'layers', 'values': [2, 4], 'differs': True}]
>>> c.rows[0].deltas()
(None, '+2 (+100%)')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from hgloc.facts.derived import bytes_at_context
from hgloc.facts.normalize import FACT_FIELDS, SUB_CONFIGS, FactValue

__all__ = ["CompareRow", "Comparison", "build_comparison", "flatten", "is_number"]

_WEIGHT_FIELDS = ("parameters", "weight_bytes", "kv_cache_bytes_per_token", "total_bytes")


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@attrs.frozen
class CompareRow:
    """One field across the compared models; ``None`` where a model lacks it."""

    field: str
    values: tuple[Any, ...]
    differs: bool

    def deltas(self) -> tuple[str | None, ...]:
        """Each number's difference from the first model's, as ``+512 (+12.5%)``."""
        base = self.values[0] if self.values else None
        out: list[str | None] = [None]
        for value in self.values[1:]:
            if not (is_number(base) and is_number(value)) or value == base:
                out.append(None)
                continue
            diff = value - base
            text = f"{diff:+,}" if isinstance(diff, int) else f"{diff:+,.4g}"
            if base:
                text += f" ({diff / base:+.0%})"
            out.append(text)
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "values": [_json_value(v) for v in self.values],
            "differs": self.differs,
        }


@attrs.frozen
class Comparison:
    """The models compared (``id`` or ``id@revision``) and every row; JSON-able."""

    models: tuple[str, ...]
    rows: tuple[CompareRow, ...]
    context: int | None = None

    def differing(self) -> tuple[CompareRow, ...]:
        return tuple(r for r in self.rows if r.differs)

    def to_json(self, *, all_rows: bool = True) -> dict[str, Any]:
        """``{"models": [...], "rows": [{"field", "values", "differs"}...]}``.

        ``all_rows=False`` keeps the rows that differ only; ``context`` is
        included when a context length was asked for.
        """
        rows = self.rows if all_rows else self.differing()
        out: dict[str, Any] = {"models": list(self.models), "rows": [r.to_json() for r in rows]}
        if self.context is not None:
            out["context"] = self.context
        return out


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested objects as ``(dotted.name, value)`` pairs; lists stay values."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{name}.")
        else:
            yield name, value


def _fact_order(names: set[str]) -> list[str]:
    """Facts first as FACT_FIELDS lists them, then sub-configs, then weights, then the rest."""
    order = [f for f in FACT_FIELDS if f in names]
    for sub in SUB_CONFIGS:
        order += [f"{sub}.{f}" for f in FACT_FIELDS if f"{sub}.{f}" in names]
    for field in _WEIGHT_FIELDS:
        if field in names:
            order.append(field)
        order += sorted(n for n in names if n.startswith(f"{field}.") and n not in order)
    return order + sorted(names - set(order))


def build_comparison(
    labels: Sequence[str],
    facts: Sequence[Mapping[str, FactValue]],
    configs: Sequence[Mapping[str, Any] | None],
    *,
    context: int | None = None,
) -> Comparison:
    """Rows for models named ``labels``, from their facts and (optional) configs."""
    if not len(labels) == len(facts) == len(configs):
        raise ValueError("one label, one facts mapping and one config per model")
    rows_facts = [dict(f) for f in facts]
    if context is not None:
        for one in rows_facts:
            total = bytes_at_context(one, context)
            if total is not None:
                one["total_bytes"] = total
    names = _fact_order(set().union(*(f.keys() for f in rows_facts)))
    rows = [_row(name, [f.get(name) for f in rows_facts]) for name in names]
    flat = [dict(flatten(c)) if c is not None else {} for c in configs]
    seen: dict[str, None] = {}
    for one in flat:
        seen.update(dict.fromkeys(one))
    rows += [_row(f"config.{name}", [f.get(name) for f in flat]) for name in seen]
    return Comparison(tuple(labels), tuple(rows), context)


def _row(field: str, values: list[Any]) -> CompareRow:
    normal = [_json_value(v) for v in values]
    differs = any(v != normal[0] or type(v) is not type(normal[0]) for v in normal[1:])
    return CompareRow(field, tuple(values), differs)
