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

from collections.abc import Awaitable, Callable
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
    parse_hub_path,
    path_segments,
    plan_range,
)
from hgloc.layout import CARD_REPO_PATH, CONFIG_FILE, validate_model_id, validate_revision
from hgloc.serve._answers import model_info as model_info_body
from hgloc.serve._answers import tree_listing
from hgloc.serve._catalog import Snapshot
from hgloc.serve._direct import bucket_redirect, local_file
from hgloc.serve._page import PAGE_HEADERS, render_page
from hgloc.serve._replies import (
    JSON,
    Headers,
    damaged,
    entry_not_found,
    json_reply,
    reply,
    repo_not_found,
    revision_not_found,
    upstream_failure,
)
from hgloc.serve._stream import StoreFileResponse, open_body
from hgloc.serve._upstream import Want

if TYPE_CHECKING:
    from hgloc.serve._service import Service

__all__ = ["ROUTES", "HubRoute", "raw_path"]

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

    def __init__(self, kind: Endpoint, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.name = endpoint.__name__
        self.app = request_response(endpoint)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            where = parse_hub_path(path_segments(raw_path(scope)))
            if where is not None and where.endpoint is self.kind:
                return Match.FULL, {"endpoint": self.endpoint, "path_params": {"hub": where}}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _content_type(path: str) -> bytes:
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return _CONTENT_TYPES.get(name[dot:] if dot >= 0 else name, _OCTETS)


async def _locate(service: Service, repo_id: str, revision: str, want: Want) -> Snapshot | Response:
    """The folder answering for ``repo_id`` at ``revision``, fetched first if need be."""
    try:
        validate_model_id(repo_id)
    except InvalidModelIdError:
        return repo_not_found(repo_id)
    try:
        validate_revision(revision)
    except InvalidModelIdError:
        return revision_not_found(revision)
    catalog, upstream = await service.open()
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


async def _small_file(service: Service, snap: Snapshot, path: str) -> bytes | None:
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
    service = _service(request)
    snap = await _locate(service, where.repo_id, where.revision or DEFAULT_BRANCH, Want())
    if isinstance(snap, Response):
        return snap
    card = await _small_file(service, snap, CARD_REPO_PATH)
    config = await _small_file(service, snap, CONFIG_FILE)
    body = model_info_body(
        snap,
        card=card.decode("utf-8", "replace") if card is not None else None,
        config=config,
        blobs=request.query_params.get("blobs", "").lower() == "true",
    )
    return json_reply(body)


async def tree(request: Request) -> Response:
    """``GET /api/models/{id}/tree/{rev}[/{path}]``: the listing (a whole repo is fetched)."""
    where: HubPath = request.path_params["hub"]
    revision = where.revision or DEFAULT_BRANCH
    snap = await _locate(_service(request), where.repo_id, revision, Want(whole=True))
    if isinstance(snap, Response):
        return snap
    recursive = request.query_params.get("recursive", "").lower() == "true"
    body = tree_listing(snap, where.path, recursive=recursive)
    if body is None:
        return entry_not_found(where.path, revision, snap.commit)
    return json_reply(body)


async def resolve(request: Request) -> Response:
    """``GET|HEAD /{id}/resolve/{rev}/{path}``: the file, whole or one range, from the store."""
    where: HubPath = request.path_params["hub"]
    revision, path = where.revision or DEFAULT_BRANCH, where.path
    service = _service(request)
    snap = await _locate(service, where.repo_id, revision, Want(path=path))
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
    if span.status == 416 or request.method == "HEAD":
        return reply(span.status, headers)
    catalog, _ = await service.open()
    key = snap.key(file)
    sent = local_file(request.scope, catalog.backend, key, file.size, headers)
    if sent is not None and span.status == 200:  # zero-copy where the server can
        return sent
    try:
        body = await open_body(catalog.backend, key, span.start, span.end, whole=span.status == 200)
    except ObjectNotFoundError:
        return damaged(f"{catalog.backend.location(key)} is missing from its model folder")
    if body.total != file.size:
        await body.aclose()
        return damaged(
            f"{catalog.backend.location(key)} holds {body.total} bytes; "
            f"its metadata says {file.size}"
        )
    return StoreFileResponse(span.status, headers, body, span.length)


async def listing_page(request: Request) -> Response:
    """``GET /``: the served models, for a browser."""
    service = _service(request)
    catalog, _ = await service.open()
    models = await catalog.all()
    host = request.headers.get("host") or "127.0.0.1"
    upstream = service.localizer.config.endpoint if service.pull_through else None
    body = render_page(models, endpoint=f"http://{host}", store=catalog.where(), upstream=upstream)
    return reply(200, [*PAGE_HEADERS, (b"content-length", b"%d" % len(body))], body)


ROUTES: list[BaseRoute] = [
    Route("/", listing_page, methods=["GET", "HEAD"], name="listing_page"),
    HubRoute(Endpoint.MODEL_INFO, model_info),
    HubRoute(Endpoint.TREE, tree),
    HubRoute(Endpoint.RESOLVE, resolve),
]
