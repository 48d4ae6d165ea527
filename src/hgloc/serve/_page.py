"""The page at ``/``: the served models, for someone who opens the address in a browser.

Every value is escaped (revisions may hold ``<`` and ``&``; the host comes
from the request), links are percent-encoded, and the page is served with a
Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from hgloc.layout import CARD_REPO_PATH
from hgloc.serve._answers import hub_time
from hgloc.serve._catalog import DEFAULT_BRANCH, Snapshot

__all__ = ["PAGE_HEADERS", "card_url", "human_size", "render_page"]

PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
       color: #1f2328; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
p.where { color: #59636e; margin-top: 0; }
pre { background: #f6f8fa; padding: .7rem 1rem; border-radius: 6px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d1d9e0; }
th { font-weight: 600; background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .9em; }
.full { color: #1a7f37; } .metadata { color: #59636e; }
"""


def human_size(size: int) -> str:
    """Bytes for people: ``512 B``, ``1.5 kB``, ``2.3 GB`` (powers of 1000, as the Hub).

    >>> human_size(1536), human_size(2_300_000_000)
    ('1.5 kB', '2.3 GB')
    """
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def card_url(snap: Snapshot) -> str:
    """The card of ``snap`` as a client downloads it (``/{id}/resolve/{rev}/README.md``)."""
    revision = quote(snap.revision or DEFAULT_BRANCH, safe="")
    return f"/{quote(snap.model_id)}/resolve/{revision}/{CARD_REPO_PATH}"


def render_page(
    models: Sequence[Snapshot],
    *,
    endpoint: str,
    store: str,
    upstream: str | None,
    extra: str = "",
) -> bytes:
    """The HTML listing of ``models``; ``endpoint`` is this server's address for clients.

    ``extra``: HTML already escaped, shown below the models (the collections).
    """
    rows = []
    for snap in models:
        kind = "full" if snap.is_full_model else "metadata"
        name = escape(snap.model_id)
        if CARD_REPO_PATH in snap.files:
            name = f'<a href="{escape(card_url(snap))}">{name}</a>'
        revision = (
            escape(snap.revision) if snap.revision else f"{DEFAULT_BRANCH} <em>(default)</em>"
        )
        cached = escape(hub_time(snap.record.cached_timestamp) or "")
        rows.append(
            "<tr>"
            f'<td class="model">{name}</td>'
            f'<td class="revision">{revision}</td>'
            f'<td class="commit"><code title="{escape(snap.commit)}">{escape(snap.commit[:12])}'
            "</code></td>"
            f'<td class="type {kind}">{kind}</td>'
            f'<td class="files num">{len(snap.files)}</td>'
            f'<td class="size num" data-bytes="{snap.size}">{human_size(snap.size)}</td>'
            f'<td class="cached">{cached}</td>'
            "</tr>"
        )
    count = f"{len(models)} model" + ("" if len(models) == 1 else "s")
    pull = (
        f" Models it lacks are fetched from <code>{escape(upstream)}</code> on first request."
        if upstream
        else ""
    )
    if rows:
        table = (
            '<table id="models"><thead><tr><th>Model</th><th>Revision</th><th>Commit</th>'
            '<th>Type</th><th class="num">Files</th><th class="num">Size</th><th>Cached</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
    else:
        table = (
            '<p id="empty">No models yet. Add some with <code>hgloc download-model ORG/NAME</code>'
            f"{' or start the server with <code>--upstream</code>' if not upstream else ''}.</p>"
        )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>hgloc serve: {count}</title><style>{_STYLE}</style></head><body>"
        f"<h1>hgloc serve: {count}</h1>"
        f'<p class="where">From <code>{escape(store)}</code>.{pull}</p>'
        "<p>Point huggingface_hub and transformers here:</p>"
        f'<pre id="usage">export HF_ENDPOINT={escape(endpoint)}</pre>'
        f"{table}{extra}</body></html>"
    )
    return page.encode()
