"""The routes of ``hgloc serve``: one named function per Hub endpoint, plus the listing page.

Routes (see ``hub-protocol.md``)::

    GET /api/models/{id}[/revision/{rev}]          model_info
    GET /api/models/{id}/tree/{rev}[/{path}]       tree
    GET|HEAD /{id}/resolve/{rev}/{path}            resolve: the file, streamed from the store
    GET /                                          listing_page

The Hub's paths (legacy one-part ids, ``refs/pr/1`` quoted or not) are matched
by :class:`HubRoute` with :func:`hgloc.hub_wire.parse_hub_path`, on the raw
path: ``refs%2Fpr%2F1`` stays one segment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, request_response
from starlette.types import Receive, Scope, Send

from hgloc.errors import HglocError, InvalidModelIdError, ObjectNotFoundError
from hgloc.hub_wire import (
    DEFAULT_BRANCH,
    Endpoint,
    HubPath,
    decode_cursor,
    dumps,
    is_repo_id,
    next_link,
    page_of,
    parse_hub_path,
    path_segments,
    plan_range,
)
from hgloc.layout import CARD_REPO_PATH, CONFIG_FILE, validate_model_id, validate_revision
from hgloc.serve._access import PUBLIC, Visibility
from hgloc.serve._answers import model_info as model_info_body
from hgloc.serve._answers import tree_listing
from hgloc.serve._catalog import Catalog, Snapshot
from hgloc.serve._collections_routes import collections_section
from hgloc.serve._compare_page import COMPARE_ROUTES
from hgloc.serve._direct import bucket_redirect, local_file
from hgloc.serve._page import PAGE_HEADERS, render_page
from hgloc.serve._replies import (
    JSON,
    Headers,
    damaged,
    entry_not_found,
    hub_error,
    json_reply,
    plain,
    refused,
    reply,
    repo_not_found,
    revision_not_found,
    upstream_failure,
)
from hgloc.serve._stream import StoreFileResponse, open_body
from hgloc.serve._tokens import presented_token
from hgloc.serve._upstream import Want

if TYPE_CHECKING:
    from hgloc.serve._service import Service

__all__ = [
    "ROUTES",
    "HubRoute",
    "locate",
    "paged_reply",
    "raw_path",
    "service_of",
    "small_file",
    "visibility_of",
]

_OCTETS = b"application/octet-stream"
_TEXT = b"text/plain; charset=utf-8"
# Text types only for what is certainly text; never text/html: a repo file served
# from this origin must not run in the browser that shows the listing page.
_CONTENT_TYPES = {
    ".json": JSON,
    ".md": _TEXT,
    ".txt": _TEXT,
    ".py": _TEXT,
    ".jinja": _TEXT,
    ".gitattributes": _TEXT,
}
_FILE_HEADERS: Headers = [
    (b"accept-ranges", b"bytes"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"sandbox; default-src 'none'"),
]
_MAX_CARD = 1 << 20  # bytes of a card parsed for cardData in model info


def raw_path(scope: Scope) -> bytes:
    """The request path as sent (percent-encoded)."""
    raw: bytes | None = scope.get("raw_path")
    return raw or quote(scope["path"]).encode()


class HubRoute(BaseRoute):
    """A route matching one Hub endpoint by the Hub's path grammar; the endpoint gets
    the parsed :class:`~hgloc.hub_wire.HubPath` as ``request.path_params["hub"]``."""

    def __init__(
        self,
        kind: Endpoint,
        endpoint: Callable[[Request], Awaitable[Response]],
        methods: Sequence[str] = ("GET", "HEAD"),
    ) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.name = endpoint.__name__
        self.methods = frozenset(methods)
        self.app = request_response(endpoint)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            where = parse_hub_path(path_segments(raw_path(scope)))
            if where is not None and where.endpoint is self.kind:
                child = {"endpoint": self.endpoint, "path_params": {"hub": where}}
                return (Match.FULL if scope["method"] in self.methods else Match.PARTIAL), child
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods:
            allow = ", ".join(sorted(self.methods)).encode()
            await plain(405, "Method Not Allowed", [(b"allow", allow)])(scope, receive, send)
            return
        where: HubPath = scope["path_params"]["hub"]
        refused = refuse_names(where) if where.endpoint is not Endpoint.MODELS else None
        if refused is not None:  # the Hub's "not found", never a store error on a bad name
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)


def refuse_names(where: HubPath) -> Response | None:
    """The Hub's answer to a repo id or revision no Hub could hold; ``None`` when both can be."""
    if not is_repo_id(where.repo_id):
        return repo_not_found(where.repo_id)
    if where.revision is not None:
        try:
            validate_revision(where.revision)
        except InvalidModelIdError:
            return revision_not_found(where.revision)
    return None


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _content_type(path: str) -> bytes:
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return _CONTENT_TYPES.get(name[dot:] if dot >= 0 else name, _OCTETS)


async def locate(
    request: Request, repo_id: str, revision: str, want: Want, *, reading: str | None = None
) -> Snapshot | Response:
    """The folder answering for ``repo_id`` at ``revision``, fetched first if need be.

    With pull-through, a gated or private repo is answered only to a client the
    server trusts (:mod:`hgloc.serve._access`); ``reading`` is the file asked
    for (``None``: the repo's listing or info).
    """
    service = service_of(request)
    try:
        validate_model_id(repo_id)
    except InvalidModelIdError:
        return repo_not_found(repo_id)
    try:
        validate_revision(revision)
    except InvalidModelIdError:
        return revision_not_found(revision)
    catalog, upstream = await service.open()
    if service.access is not None:
        token = presented_token(request.headers.get("authorization"))
        try:
            refusal = await service.access.refusal(
                await catalog.upstream_id(repo_id), reading, token
            )
        except (HglocError, OSError) as exc:
            return upstream_failure(exc, repo_id, revision, want, None)
        if refusal is not None:
            return refused(refusal, repo_id)
    snap = await catalog.find(repo_id, revision)
    if upstream is not None and upstream.wants_fetch(snap, want):
        try:
            await upstream.ensure(repo_id, revision, want)
        except (HglocError, OSError) as exc:
            return upstream_failure(exc, repo_id, revision, want, snap)
        snap = await catalog.find(repo_id, revision)
    if snap is None:
        if await catalog.holds(repo_id):
            return revision_not_found(revision)
        return repo_not_found(repo_id)
    return snap


async def small_file(service: Service, snap: Snapshot, path: str) -> bytes | None:
    file = snap.files.get(path)
    if file is None or file.size > _MAX_CARD:
        return None
    catalog, _ = await service.open()
    try:
        return await catalog.backend.read(snap.key(file))
    except ObjectNotFoundError:
        return None


async def model_info(request: Request) -> Response:
    """``GET /api/models/{id}[/revision/{rev}]``: what the store holds of the model."""
    where: HubPath = request.path_params["hub"]
    service = service_of(request)
    snap = await locate(request, where.repo_id, where.revision or DEFAULT_BRANCH, Want())
    if isinstance(snap, Response):
        return snap
    card = await small_file(service, snap, CARD_REPO_PATH)
    config = await small_file(service, snap, CONFIG_FILE)
    # The card is user content: parsed off the event loop, within limits (hub_wire).
    body = await service.work(
        model_info_body,
        snap,
        card=card.decode("utf-8", "replace") if card is not None else None,
        config=config,
        blobs=request.query_params.get("blobs", "").lower() == "true",
        visibility=await visibility_of(service, snap),
    )
    return json_reply(body)


async def tree(request: Request) -> Response:
    """``GET /api/models/{id}/tree/{rev}[/{path}]``: the listing (a whole repo is fetched)."""
    where: HubPath = request.path_params["hub"]
    revision = where.revision or DEFAULT_BRANCH
    snap = await locate(request, where.repo_id, revision, Want(whole=True))
    if isinstance(snap, Response):
        return snap
    recursive = request.query_params.get("recursive", "").lower() == "true"
    listing = tree_listing(snap, where.path, recursive=recursive)
    if listing is None:
        return entry_not_found(where.path, revision, snap.commit)
    return paged_reply(request, listing)


async def visibility_of(service: Service, snap: Snapshot) -> Visibility:
    """``private`` and ``gated`` as the upstream says (pull-through); public otherwise."""
    if service.access is None:
        return PUBLIC
    return await service.access.visibility(snap.record.resolved_repo_id or snap.model_id)


def paged_reply(request: Request, items: Sequence[Any], size: int | None = None) -> Response:
    """One page of ``items`` (from the query's ``cursor``), ``Link: rel="next"`` if more."""
    offset = decode_cursor(request.query_params.get("cursor"))
    if offset is None:
        return hub_error(400, None, "Invalid cursor")
    page = page_of(items, offset, size or service_of(request).page_size)
    response = json_reply(dumps(list(page.items)))
    if page.next_cursor is not None:
        url = str(request.url.replace(query=""))
        link = next_link(url, request.query_params.multi_items(), page.next_cursor)
        response.raw_headers.append((b"link", link))
    return response


async def resolve(request: Request) -> Response:
    """``GET|HEAD /{id}/resolve/{rev}/{path}``: the file, whole or one range, from the store."""
    where: HubPath = request.path_params["hub"]
    revision, path = where.revision or DEFAULT_BRANCH, where.path
    service = service_of(request)
    snap = await locate(request, where.repo_id, revision, Want(path=path), reading=path)
    if isinstance(snap, Response):
        return snap
    file = snap.files.get(path)
    if file is None:
        return entry_not_found(path, revision, snap.commit)
    headers: Headers = [
        (b"x-repo-commit", snap.commit.encode()),
        (b"etag", b'"%s"' % file.etag.encode()),
        (b"content-type", _content_type(path)),
        *_FILE_HEADERS,
    ]
    if file.is_lfs:
        # The Hub sends these with its redirect to the CDN; huggingface_hub prefers them.
        headers += [
            (b"x-linked-etag", b'"%s"' % file.etag.encode()),
            (b"x-linked-size", b"%d" % file.size),
        ]
    if service.redirect_to_bucket:  # the client fetches the bytes from S3, as from a CDN
        catalog, _ = await service.open()
        moved = await bucket_redirect(catalog.backend, snap.key(file), file, headers)
        if moved is not None:
            return moved
    span = plan_range(request.headers.get("range"), file.size)
    headers += span.headers()
    catalog, _ = await service.open()
    key = snap.key(file)
    if span.status == 416 or request.method == "HEAD":
        # HEAD looks at the stored object too: it must not promise what GET cannot send.
        try:
            stored = (await catalog.backend.stat(key)).size
        except ObjectNotFoundError:
            stored = None
        return _damage(catalog, key, stored, file.size) or reply(span.status, headers)
    sent = local_file(request.scope, catalog.backend, key, file.size, headers)
    if sent is not None and span.status == 200:  # zero-copy where the server can
        return sent
    try:
        body = await open_body(catalog.backend, key, span.start, span.end, whole=span.status == 200)
    except ObjectNotFoundError:
        return _damage(catalog, key, None, file.size) or reply(500, [])
    damage = _damage(catalog, key, body.total, file.size)
    if damage is not None:
        await body.aclose()
        return damage
    return StoreFileResponse(span.status, headers, body, span.length)


def _damage(catalog: Catalog, key: str, stored: int | None, expected: int) -> Response | None:
    """A 500 naming the damage when the stored object (``None``: missing) is not the file."""
    where = catalog.backend.location(key)
    if stored is None:
        return damaged(f"{where} is missing from its model folder")
    if stored != expected:
        return damaged(f"{where} holds {stored} bytes; its metadata says {expected}")
    return None


async def listing_page(request: Request) -> Response:
    """``GET /``: the served models, for a browser."""
    service = service_of(request)
    catalog, _ = await service.open()
    models = await catalog.all()
    host = request.headers.get("host") or "127.0.0.1"
    upstream = service.localizer.config.endpoint if service.pull_through else None
    extra = await collections_section(service.localizer)
    body = render_page(
        models, endpoint=f"http://{host}", store=catalog.where(), upstream=upstream, extra=extra
    )
    return reply(200, [*PAGE_HEADERS, (b"content-length", b"%d" % len(body))], body)


ROUTES: list[BaseRoute] = [
    Route("/", listing_page, methods=["GET", "HEAD"], name="listing_page"),
    HubRoute(Endpoint.MODEL_INFO, model_info),
    HubRoute(Endpoint.TREE, tree),
    HubRoute(Endpoint.RESOLVE, resolve),
    *COMPARE_ROUTES,  # /compare and /api/hgloc/facts
]
