"""``GET /api/collections[/{slug}]``: the served store's collections in the Hub's JSON shape.

Stock ``huggingface_hub`` reads them unchanged: ``HfApi(endpoint=...).get_collection(slug)``
and ``list_collections(owner=...)``. Each item carries its pinned ``revision``
(and ``full`` / ``include``) as extra keys the Hub's client ignores.
"""

from __future__ import annotations

import logging
from html import escape
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hgloc.collections import CollectionNotFoundError, Collections
from hgloc.errors import HglocError, InvalidModelIdError

if TYPE_CHECKING:
    from hgloc.localize import Localizer
    from hgloc.serve._service import Service

__all__ = ["COLLECTION_ROUTES", "collections_section"]

logger = logging.getLogger("hgloc")

_MAX_LIMIT = 1000


def _collections(request: Request) -> Collections:
    service: Service = request.app.state.service
    loc = service.localizer
    return Collections(loc.config, backend=loc.backend)


async def collections_section(loc: Localizer) -> str:
    """The collections and their items as an HTML section of the listing page (escaped)."""
    try:
        async with Collections(loc.config, backend=loc.backend) as shelf:
            found = await shelf.all()
    except HglocError as exc:  # the page still lists the models
        logger.warning("the listing page shows no collections: %s", exc)
        return ""
    if not found:
        return ""
    parts = ['<h2 id="collections">Collections</h2>']
    for c in found:
        items = "".join(
            f"<li><code>{escape(i.ref)}</code>"
            + (" <em>full</em>" if i.full else "")
            + (f" &mdash; {escape(i.note)}" if i.note else "")
            + "</li>"
            for i in c.items
        )
        about = f"<p>{escape(c.description)}</p>" if c.description else ""
        parts.append(
            f'<section class="collection"><h3>{escape(c.title)} '
            f"<code>{escape(c.slug)}</code></h3>{about}<ol>{items}</ol></section>"
        )
    return "".join(parts)


def _not_found(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=404, headers={"x-error-code": "NotFound"})


async def get_collection(request: Request) -> Response:
    """``GET /api/collections/{owner}/{name}`` (or ``{name}``): one collection."""
    params = request.path_params
    slug = "/".join(p for p in (params.get("owner"), params["name"]) if p)
    try:
        async with _collections(request) as shelf:
            found = await shelf.get(slug)
    except (CollectionNotFoundError, InvalidModelIdError):
        return _not_found(f"Collection {slug} not found")
    return JSONResponse(found.hub_json(position=0))


async def list_collections(request: Request) -> Response:
    """``GET /api/collections?owner=...&item=models/{id}&limit=N``: the Hub's listing.

    The Hub's listing leaves out each collection's ``position`` (its client
    numbers them) and ``item`` keeps the collections holding that model.
    """
    query = request.query_params
    owner = query.get("owner")
    item = query.get("item")
    wanted = item.removeprefix("models/") if item else None
    try:
        limit = max(0, min(int(query.get("limit", _MAX_LIMIT)), _MAX_LIMIT))
    except ValueError:
        limit = _MAX_LIMIT
    async with _collections(request) as shelf:
        found = await shelf.all(owner)
    if wanted is not None:
        found = [c for c in found if c.find(wanted)]
    return JSONResponse([c.hub_json(position=None) for c in found[:limit]])


COLLECTION_ROUTES: list[BaseRoute] = [
    Route("/api/collections", list_collections, methods=["GET", "HEAD"]),
    Route("/api/collections/{owner}/{name}", get_collection, methods=["GET", "HEAD"]),
    Route("/api/collections/{name}", get_collection, methods=["GET", "HEAD"]),
]
