"""The compare page: pick stored models, see them side by side, and a plot of the store.

Routes (registered in :mod:`hgloc.serve._routes`)::

    GET /compare?models=a,b[&all=1]   compare_page: the picker, the comparison, the plot
    GET /api/hgloc/facts              facts_json: every stored model's facts, as JSON

Same rules as the listing page (:mod:`hgloc.serve._page`): every value is
escaped, links are percent-encoded, the Content-Security-Policy allows no
script. Picking is done with plain links (no form, no JavaScript); the plot is
an inline SVG drawn here: parameters against context length, log scales, one
dot per model coloured by ``model_type``. The facts come from the localizer's
store, offline (see :mod:`hgloc.facts`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hgloc.errors import InvalidModelIdError, ObjectNotFoundError
from hgloc.facts.api import ModelFacts, compare, model_facts
from hgloc.serve._page import PAGE_HEADERS, human_size
from hgloc.serve._replies import json_reply, reply

if TYPE_CHECKING:
    from hgloc.facts.compare import Comparison
    from hgloc.serve._service import Service

__all__ = ["COMPARE_ROUTES", "compare_page", "facts_json", "plot_svg"]

MAX_MODELS = 12  # columns side by side
# Tableau 10: distinct for the usual handful of model types; more types reuse colours
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")  # fmt: skip
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 400, 70, 170, 20, 50

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; padding: 0 1rem;
       color: #1f2328; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; } th, td { text-align: left; padding: .3rem .6rem;
       border-bottom: 1px solid #d1d9e0; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.differs td { background: #fff8c5; } tr.differs td.field { font-weight: 600; }
.delta { color: #59636e; font-size: .85em; } .error { color: #d1242f; }
ul.picker { columns: 3; padding-left: 1rem; } .picked { font-weight: 600; }
"""


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _picked(request: Request) -> list[str]:
    raw = request.query_params.get("models", "")
    out: list[str] = []
    for name in (part.strip() for part in raw.split(",")):
        if name and name not in out:
            out.append(name)
    return out


def _href(models: Sequence[str], *, all_rows: bool) -> str:
    query = {"models": ",".join(models)} if models else {}
    if all_rows:
        query["all"] = "1"
    return "/compare" + (f"?{urlencode(query, safe='/,@')}" if query else "")


def _cell(field: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int | float) and "bytes" in field.split("_"):
        return human_size(int(value))
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(comparison: Comparison, *, all_rows: bool) -> str:
    rows = comparison.rows if all_rows else comparison.differing()
    if not rows:
        return "<p>The models do not differ.</p>"
    head = "".join(f"<th>{escape(m)}</th>" for m in comparison.models)
    body = []
    for row in rows:
        cells = []
        for value, delta in zip(row.values, row.deltas(), strict=True):
            extra = f' <span class="delta">{escape(delta)}</span>' if delta else ""
            num = ' class="num"' if isinstance(value, int | float) else ""
            cells.append(f"<td{num}>{escape(_cell(row.field, value))}{extra}</td>")
        kind = "differs" if row.differs else "same"
        body.append(
            f'<tr class="{kind}"><td class="field">{escape(row.field)}</td>{"".join(cells)}</tr>'
        )
    return (
        f'<table id="comparison"><thead><tr><th>field</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


@attrs.frozen
class _Point:
    label: str
    context: float
    parameters: float
    model_type: str


def _points(models: Sequence[ModelFacts]) -> list[_Point]:
    out = []
    for m in models:
        context, parameters = m.facts.get("context"), m.facts.get("parameters")
        if not (isinstance(context, int | float) and isinstance(parameters, int | float)):
            continue  # unknown: not plotted, never guessed
        if context > 0 and parameters > 0:
            kind = m.facts.get("model_type")
            out.append(_Point(m.label, context, parameters, str(kind or "unknown")))
    return out


def _short(n: float) -> str:
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:g}{unit}"
    return f"{n:g}"


def _axis(values: Sequence[float]) -> tuple[float, float]:
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return low, max(high, low + 1)


def plot_svg(models: Sequence[ModelFacts]) -> str:
    """Parameters against context length, one dot per model, coloured by ``model_type``."""
    points = _points(models)
    if not points:
        return '<p id="plot-empty">No stored model has both a parameter count and a context.</p>'
    types = sorted({p.model_type for p in points})
    colour = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
    x0, x1 = _axis([p.context for p in points])
    y0, y1 = _axis([p.parameters for p in points])
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(v: float) -> float:
        return _LEFT + (math.log10(v) - x0) / (x1 - x0) * width

    def y(v: float) -> float:
        return _TOP + height - (math.log10(v) - y0) / (y1 - y0) * height

    parts = [
        f'<svg id="plot" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="parameters against context length">',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{width}" height="{height}" fill="#fafbfc" '
        'stroke="#d1d9e0"/>',
    ]
    for e in range(int(x0), int(x1) + 1):
        px = x(10.0**e)
        parts.append(f'<line x1="{px:.1f}" y1="{_TOP}" x2="{px:.1f}" y2="{_TOP + height}" '
                     f'stroke="#eaeef2"/><text x="{px:.1f}" y="{_TOP + height + 16}" '
                     f'font-size="11" text-anchor="middle">{_short(10.0**e)}</text>')  # fmt: skip
    for e in range(int(y0), int(y1) + 1):
        py = y(10.0**e)
        parts.append(f'<line x1="{_LEFT}" y1="{py:.1f}" x2="{_LEFT + width}" y2="{py:.1f}" '
                     f'stroke="#eaeef2"/><text x="{_LEFT - 6}" y="{py + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{_short(10.0**e)}</text>')  # fmt: skip
    parts.append(f'<text x="{_LEFT + width / 2}" y="{_H - 8}" font-size="12" '
                 'text-anchor="middle">context length (tokens)</text>'
                 f'<text x="14" y="{_TOP + height / 2}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {_TOP + height / 2})">parameters</text>')  # fmt: skip
    for p in points:
        parts.append(
            f'<circle class="dot" cx="{x(p.context):.1f}" cy="{y(p.parameters):.1f}" r="5" '
            f'fill="{colour[p.model_type]}" fill-opacity=".85" stroke="#1f2328" stroke-width=".5" '
            f'data-model="{escape(p.label)}" data-type="{escape(p.model_type)}">'
            f"<title>{escape(p.label)}: {_short(p.parameters)} parameters, "
            f"{p.context:,.0f} tokens ({escape(p.model_type)})</title></circle>"
        )
    for i, kind in enumerate(types):
        ly = _TOP + 10 + i * 18
        parts.append(f'<circle cx="{_LEFT + width + 20}" cy="{ly}" r="5" fill="{colour[kind]}"/>'
                     f'<text class="legend" x="{_LEFT + width + 30}" y="{ly + 4}" '
                     f'font-size="12">{escape(kind)}</text>')  # fmt: skip
    parts.append("</svg>")
    left_out = len(models) - len(points)
    note = (
        f'<p class="note">{left_out} model{"s" if left_out != 1 else ""} not plotted: '
        "parameters or context unknown.</p>"
        if left_out
        else ""
    )
    return "".join(parts) + note


def _picker(models: Sequence[ModelFacts], picked: Sequence[str], *, all_rows: bool) -> str:
    items = []
    for m in models:
        if m.label in picked:
            link = _href([p for p in picked if p != m.label], all_rows=all_rows)
            items.append(f'<li class="picked">{escape(m.label)} '
                         f'<a href="{escape(link)}">remove</a></li>')  # fmt: skip
        else:
            link = _href([*picked, m.label][-MAX_MODELS:], all_rows=all_rows)
            items.append(f'<li><a href="{escape(link)}">{escape(m.label)}</a></li>')
    return f'<ul class="picker" id="picker">{"".join(items)}</ul>'


def render(models: Sequence[ModelFacts], picked: Sequence[str], comparison: Comparison | None,
           *, all_rows: bool, error: str | None) -> bytes:  # fmt: skip
    """The whole page."""
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>hgloc serve: compare</title><style>{_STYLE}</style></head><body>"
        '<h1>Compare stored models</h1><p><a href="/">All models</a></p>',
        "<h2>Pick models</h2>",
        _picker(models, picked, all_rows=all_rows),
    ]
    if error:
        parts.append(f'<p class="error" id="error">{escape(error)}</p>')
    if comparison is not None:
        toggle = _href(picked, all_rows=not all_rows)
        which = "every field" if all_rows else "the fields that differ"
        other = "only differences" if all_rows else "all fields"
        parts.append(f"<h2>Side by side</h2><p>Showing {which}; "
                     f'<a id="toggle" href="{escape(toggle)}">show {other}</a>.</p>')  # fmt: skip
        parts.append(_table(comparison, all_rows=all_rows))
    parts += ["<h2>The store: parameters against context length</h2>", plot_svg(models)]
    parts.append("</body></html>")
    return "".join(parts).encode()


async def compare_page(request: Request) -> Response:
    """``GET /compare?models=a,b``: the picker, the models side by side, the plot."""
    localizer = _service(request).localizer
    models = await model_facts(localizer=localizer)
    picked = _picked(request)[:MAX_MODELS]
    all_rows = request.query_params.get("all") == "1"
    comparison, error, status = None, None, 200
    if picked:
        try:
            comparison = await compare(picked, localizer=localizer)
        except InvalidModelIdError as exc:
            error, status = str(exc), 400
        except ObjectNotFoundError as exc:
            error, status = str(exc), 404
    body = render(models, picked, comparison, all_rows=all_rows, error=error)
    return reply(status, [*PAGE_HEADERS, (b"content-length", b"%d" % len(body))], body)


async def facts_json(request: Request) -> Response:
    """``GET /api/hgloc/facts``: every stored model with its facts, as a JSON list."""
    models = await model_facts(localizer=_service(request).localizer)
    body = json.dumps([m.to_json() for m in models], ensure_ascii=False, allow_nan=False)
    return json_reply(body.encode())


COMPARE_ROUTES: list[BaseRoute] = [
    Route("/compare", compare_page, methods=["GET", "HEAD"], name="compare_page"),
    Route("/api/hgloc/facts", facts_json, methods=["GET", "HEAD"], name="facts_json"),
]
