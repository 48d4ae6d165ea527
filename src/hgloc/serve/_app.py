"""The store as a Hub endpoint: a raw ASGI app answering what huggingface_hub asks.

Routes (see ``hub-protocol.md``)::

    GET /api/models/{id}[/revision/{rev}]          model info
    GET /api/models/{id}/tree/{rev}[/{path}]       file listing
    GET|HEAD /{id}/resolve/{rev}/{path}            the file, streamed from the store
    GET /                                          an HTML listing of the served models

Only GET and HEAD are answered (405 otherwise). Errors carry the Hub's
``X-Error-Code`` so clients raise the exceptions users already catch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias
from urllib.parse import parse_qsl, quote, unquote_to_bytes

import anyio
import anyio.lowlevel

from hgloc.errors import (
    BackendUnavailableError,
    EntryNotFoundError,
    GatedRepoError,
    HglocError,
    HubUnavailableError,
    InvalidModelIdError,
    ObjectNotFoundError,
    OfflineModeError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from hgloc.layout import CARD_REPO_PATH, CONFIG_FILE, validate_model_id, validate_revision
from hgloc.serve._answers import model_info, tree_listing
from hgloc.serve._catalog import DEFAULT_BRANCH, BucketLayout, Catalog, LocalLayout, Snapshot
from hgloc.serve._page import PAGE_HEADERS, render_page
from hgloc.serve._stream import Body, open_body
from hgloc.serve._upstream import Upstream, Want
from hgloc.sources._hub_protocol import split_revision

if TYPE_CHECKING:
    from hgloc.localize import Localizer

__all__ = ["HubServer", "Reply", "Service", "parse_range"]

logger = logging.getLogger("hgloc.serve")

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
Headers: TypeAlias = list[tuple[bytes, bytes]]

_JSON = b"application/json; charset=utf-8"
_TEXT = b"text/plain; charset=utf-8"
_OCTETS = b"application/octet-stream"
# Text types only for what is certainly text; never text/html: a repo file served
# from this origin must not run in the browser that shows the listing page.
_CONTENT_TYPES = {
    ".json": _JSON,
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
_BAD_TOKEN = "Invalid credentials in Authorization header"  # the Hub's words: clients know them
_MAX_CARD = 1 << 20  # bytes of a card parsed for cardData in model info


class Reply(NamedTuple):
    """An answer: status, headers, and a body in memory or a stream from the store."""

    status: int
    headers: Headers
    body: bytes = b""
    stream: Body | None = None
    length: int = 0  # bytes the stream must deliver (its Content-Length)


class _Request(NamedTuple):
    method: str
    segs: list[str]  # decoded path segments
    query: dict[str, str]
    host: str
    authorization: str | None
    range: str | None


def _error(
    status: int,
    code: str | None,
    message: str,
    extra: Headers | None = None,
    *,
    detail: str | None = None,
) -> Reply:
    """A Hub error: ``X-Error-Code`` and ``X-Error-Message``, and ``detail`` in the JSON body."""
    body = _dumps({"error": detail or message})
    headers: Headers = [(b"content-type", _JSON), (b"content-length", b"%d" % len(body))]
    if code is not None:
        headers.append((b"x-error-code", code.encode()))
    headers.append((b"x-error-message", _header_text(message)))
    return Reply(status, headers + (extra or []), body)


def _header_text(text: str) -> bytes:
    # Messages quote what the request named: no control character may reach a header.
    return "".join(c if " " <= c <= "~" else "?" for c in text).encode("ascii")


def _plain(status: int, text: str, extra: Headers | None = None) -> Reply:
    body = text.encode()
    headers: Headers = [(b"content-type", _TEXT), (b"content-length", b"%d" % len(body))]
    return Reply(status, headers + (extra or []), body)


def _dumps(obj: object) -> bytes:
    import json

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _repo_not_found(repo_id: str) -> Reply:
    return _error(404, "RepoNotFound", f"Repository {repo_id} not found on this server")


def _revision_not_found(revision: str) -> Reply:
    return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")


def _entry_not_found(path: str, revision: str, commit: str | None) -> Reply:
    extra = [(b"x-repo-commit", commit.encode())] if commit else []
    return _error(404, "EntryNotFound", f"{path} does not exist on {revision}", extra)


def parse_range(value: str | None, size: int) -> tuple[int, int] | bool | None:
    """One ``bytes=`` range as ``(start, end)`` inclusive; ``None``: send it all; ``False``: 416.

    Several ranges, or a header that does not parse, are ignored (200 and the
    whole file), as the HTTP spec allows.

    >>> parse_range("bytes=0-9", 100), parse_range("bytes=-10", 100), parse_range("bytes=100-", 100)
    ((0, 9), (90, 99), False)
    """
    if value is None or not value.startswith("bytes=") or "," in value:
        return None
    first, sep, last = value[6:].strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()):
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:  # the last N bytes
        n = int(last)
        return (max(size - n, 0), size - 1) if n > 0 and size > 0 else False
    start = int(first)
    if last and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        return False
    return start, min(int(last) if last else size - 1, size - 1)


def _content_type(path: str) -> bytes:
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return _CONTENT_TYPES.get(name[dot:] if dot >= 0 else name, _OCTETS)


def _split_repo(segs: list[str], start: int, actions: Collection[str]) -> tuple[str, int] | None:
    """(repo id, index after it): ``org/name``, or a legacy ``name`` (``gpt2``)."""
    rest = segs[start:]
    two = len(rest) >= 2 and (len(rest) == 2 or rest[2] in actions)
    one = len(rest) >= 1 and (len(rest) == 1 or rest[1] in actions)
    if two:  # "org/name" wins when both read ("a/tree/tree/..."): the Hub's usual form
        return f"{rest[0]}/{rest[1]}", start + 2
    if one:
        return rest[0], start + 1
    return None


def _presented_token(authorization: str | None) -> str | None:
    """The token of ``Bearer <token>``, or the password of ``Basic`` (what browsers send)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _digest(token: str) -> bytes:
    # Compared as fixed-size digests: compare_digest then leaks nothing, not even length.
    return hashlib.sha256(token.encode()).digest()


class Service:
    """What the app serves from: a localizer's store (or its bucket), opened on first use.

    ``upstream``: fetch misses through the localizer, whose endpoint is the
    upstream Hub. ``s3``: serve the localizer's team bucket instead of its
    local store.
    """

    def __init__(
        self,
        localizer: Localizer,
        *,
        s3: bool = False,
        upstream: bool = False,
        cache_seconds: float = 2.0,
    ) -> None:
        self.localizer = localizer
        self.s3 = s3
        self.pull_through = upstream
        self.cache_seconds = cache_seconds
        self._opened: tuple[Catalog, Upstream | None] | None = None
        self._lock = anyio.Lock()

    async def open(self) -> tuple[Catalog, Upstream | None]:
        """The catalog and the pull-through (``None`` without upstream); made once."""
        if self._opened is not None:
            return self._opened
        async with self._lock:
            if self._opened is None:
                if self.s3:
                    tier = await self.localizer.bucket()
                    if tier is None:
                        from hgloc.errors import StorePermissionError

                        raise StorePermissionError(
                            "serving the bucket needs AWS credentials: set "
                            "HGLOC_AWS_ACCESS_KEY_ID and HGLOC_AWS_SECRET_ACCESS_KEY "
                            "(or AWS_PROFILE / AWS_ACCESS_KEY_ID)"
                        )
                    catalog = Catalog(BucketLayout(tier), cache_seconds=self.cache_seconds)
                else:
                    catalog = Catalog(LocalLayout(self.localizer), cache_seconds=self.cache_seconds)
                upstream = (
                    Upstream(self.localizer, catalog, bucket=self.s3) if self.pull_through else None
                )
                self._opened = (catalog, upstream)
        return self._opened

    async def aclose(self) -> None:
        """Close the localizer: its HTTP client, its store and its bucket client."""
        await self.localizer.aclose()


class HubServer:
    """The ASGI app. Build it with :func:`hgloc.serve.create_app`.

    Handles ``lifespan`` (opens the store at startup, so a bad bucket fails
    the start; closes it at shutdown) and ``http``; nothing else.
    """

    def __init__(self, service: Service, *, token: str | None = None) -> None:
        self.service = service
        self._token = _digest(token) if token else None
        self.on_ready: Callable[[], object] | None = None
        """Called once the lifespan startup opened the store."""
        self.startup_failure: Exception | None = None
        """Why the lifespan startup failed, for :func:`~hgloc.serve.serve` to raise."""

    @property
    def upstream_url(self) -> str | None:
        return self.service.localizer.config.endpoint if self.service.pull_through else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = _parse(scope)
        try:
            reply = await self._answer(request)
        except Exception as exc:
            reply = _failure(exc)
        await _send(reply, request.method, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.service.open()
                except Exception as exc:
                    self.startup_failure = exc
                    await self.service.aclose()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
                if self.on_ready is not None:
                    self.on_ready()
            elif message["type"] == "lifespan.shutdown":
                await self.service.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- routing -----------------------------------------------------------------

    async def _answer(self, request: _Request) -> Reply:
        if self._token is not None:
            given = _presented_token(request.authorization)
            if given is None or not hmac.compare_digest(_digest(given), self._token):
                return self._unauthorized(request, given is not None)
        if request.method not in ("GET", "HEAD"):
            return _plain(
                405, "Method Not Allowed: this server is read-only", [(b"allow", b"GET, HEAD")]
            )
        segs = request.segs
        if not segs:
            return await self._page(request)
        if segs[0] == "api":
            if len(segs) >= 3 and segs[1] == "models":
                return await self._api(request)
            return _plain(404, "Not Found")
        return await self._resolve(request)

    @staticmethod
    def _unauthorized(request: _Request, presented: bool) -> Reply:
        hint = (
            "the token sent is not this server's"
            if presented
            else "this hgloc server needs a token: set HF_TOKEN to it"
        )
        # The page: let a browser ask for it (any user name, the token as password).
        ask = [(b"www-authenticate", b'Basic realm="hgloc serve", charset="UTF-8"')]
        return _error(
            401, None, _BAD_TOKEN, ask if not request.segs else None, detail=f"{_BAD_TOKEN}: {hint}"
        )

    async def _api(self, request: _Request) -> Reply:
        found = _split_repo(request.segs, 2, ("revision", "tree"))
        if found is None:
            return _plain(404, "Not Found")
        repo_id, i = found
        rest = request.segs[i:]
        if not rest:
            return await self._info(request, repo_id, DEFAULT_BRANCH)
        if rest[0] == "revision" and len(rest) >= 2:
            return await self._info(request, repo_id, "/".join(rest[1:]))
        if rest[0] == "tree":
            split = split_revision(rest[1:])
            if split is not None:
                return await self._tree(request, repo_id, split[0], "/".join(split[1]))
        return _plain(404, "Not Found")

    async def _locate(self, repo_id: str, revision: str, want: Want) -> Snapshot | Reply:
        """The folder answering for ``repo_id`` at ``revision``, fetched first if need be."""
        try:
            validate_model_id(repo_id)
        except InvalidModelIdError:
            return _repo_not_found(repo_id)
        try:
            validate_revision(revision)
        except InvalidModelIdError:
            return _revision_not_found(revision)
        catalog, upstream = await self.service.open()
        snap = await catalog.find(repo_id, revision)
        if upstream is not None and upstream.wants_fetch(snap, want):
            try:
                await upstream.ensure(repo_id, revision, want)
            except (HglocError, OSError) as exc:
                return _upstream_failure(exc, repo_id, revision, want, snap)
            snap = await catalog.find(repo_id, revision)
        if snap is None:
            if await catalog.holds(repo_id):
                return _revision_not_found(revision)
            return _repo_not_found(repo_id)
        return snap

    # -- answers -----------------------------------------------------------------

    async def _info(self, request: _Request, repo_id: str, revision: str) -> Reply:
        snap = await self._locate(repo_id, revision, Want())
        if isinstance(snap, Reply):
            return snap
        card = await self._small_file(snap, CARD_REPO_PATH)
        config = await self._small_file(snap, CONFIG_FILE)
        body = model_info(
            snap,
            card=card.decode("utf-8", "replace") if card is not None else None,
            config=config,
            blobs=request.query.get("blobs", "").lower() == "true",
        )
        return Reply(200, [(b"content-type", _JSON), (b"content-length", b"%d" % len(body))], body)

    async def _small_file(self, snap: Snapshot, path: str) -> bytes | None:
        file = snap.files.get(path)
        if file is None or file.size > _MAX_CARD:
            return None
        catalog, _ = await self.service.open()
        try:
            return await catalog.backend.read(snap.key(file))
        except ObjectNotFoundError:
            return None

    async def _tree(self, request: _Request, repo_id: str, revision: str, path: str) -> Reply:
        snap = await self._locate(repo_id, revision, Want(whole=True))
        if isinstance(snap, Reply):
            return snap
        recursive = request.query.get("recursive", "").lower() == "true"
        body = tree_listing(snap, path, recursive=recursive)
        if body is None:
            return _entry_not_found(path, revision, snap.commit)
        return Reply(200, [(b"content-type", _JSON), (b"content-length", b"%d" % len(body))], body)

    async def _resolve(self, request: _Request) -> Reply:
        segs = request.segs
        found = _split_repo(segs, 0, ("resolve",))
        if found is None or found[1] >= len(segs) or segs[found[1]] != "resolve":
            return _plain(404, "Not Found")
        repo_id, i = found
        split = split_revision(segs[i + 1 :])
        if split is None or not split[1]:
            return _plain(404, "Not Found")
        revision, parts = split
        path = "/".join(parts)
        snap = await self._locate(repo_id, revision, Want(path=path))
        if isinstance(snap, Reply):
            return snap
        file = snap.files.get(path)
        if file is None:
            return _entry_not_found(path, revision, snap.commit)
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
        size = file.size
        span = parse_range(request.range, size)
        if span is False:
            headers += [(b"content-range", b"bytes */%d" % size), (b"content-length", b"0")]
            return Reply(416, headers)
        if span is None or span is True:
            status, start, end = 200, 0, size - 1
        else:
            status, (start, end) = 206, span
            headers.append((b"content-range", b"bytes %d-%d/%d" % (start, end, size)))
        length = end - start + 1
        headers.append((b"content-length", b"%d" % length))
        if request.method == "HEAD":
            return Reply(status, headers)
        catalog, _ = await self.service.open()
        key = snap.key(file)
        try:
            body = await open_body(catalog.backend, key, start, end, whole=status == 200)
        except ObjectNotFoundError:
            return _damaged(f"{catalog.backend.location(key)} is missing from its model folder")
        if body.total != size:
            await body.aclose()
            return _damaged(
                f"{catalog.backend.location(key)} holds {body.total} bytes; "
                f"its metadata says {size}"
            )
        return Reply(status, headers, stream=body, length=length)

    async def _page(self, request: _Request) -> Reply:
        catalog, _ = await self.service.open()
        models = await catalog.all()
        host = request.host or "127.0.0.1"
        body = render_page(
            models, endpoint=f"http://{host}", store=catalog.where(), upstream=self.upstream_url
        )
        return Reply(200, [*PAGE_HEADERS, (b"content-length", b"%d" % len(body))], body)


def _damaged(message: str) -> Reply:
    logger.error("store damaged: %s", message)
    return _error(500, None, f"the store is damaged: {message}")


def _failure(exc: Exception) -> Reply:
    """The answer for an error no handler expected: the store's fault, never a dropped socket."""
    if isinstance(exc, BackendUnavailableError):
        logger.warning("store unavailable: %s", exc)
        return _error(503, None, f"the store is unavailable: {exc}", [(b"retry-after", b"5")])
    if isinstance(exc, HglocError | OSError):
        logger.error("cannot answer: %s", exc)
        return _error(500, None, f"cannot read the store: {exc}")
    logger.exception("unexpected error")
    return _error(500, None, "internal error; see the server's log")


def _upstream_failure(
    exc: BaseException, repo_id: str, revision: str, want: Want, snap: Snapshot | None
) -> Reply:
    """The Hub's answer for what the upstream Hub (or storing its files) failed with."""
    commit = snap.commit if snap is not None else None
    if isinstance(exc, GatedRepoError):
        return _error(403, "GatedRepo", f"{repo_id} is gated upstream: {exc}")
    if isinstance(exc, RepositoryNotFoundError):
        return _error(404, "RepoNotFound", f"Repository {repo_id} not found upstream")
    if isinstance(exc, RevisionNotFoundError):
        return _revision_not_found(revision)
    if isinstance(exc, EntryNotFoundError):
        return _entry_not_found(want.path or "", revision, commit)
    if isinstance(exc, HubUnavailableError | OfflineModeError):
        logger.warning("upstream unavailable for %s@%s: %s", repo_id, revision, exc)
        return _error(502, None, f"the upstream Hub did not answer: {exc}")
    if isinstance(exc, BackendUnavailableError):
        return _error(503, None, f"the store is unavailable: {exc}", [(b"retry-after", b"5")])
    logger.error("fetching %s@%s failed: %s", repo_id, revision, exc)
    return _error(502, None, f"fetching {repo_id}@{revision} failed: {exc}")


def _parse(scope: Scope) -> _Request:
    authorization = range_header = None
    host = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"range":
            range_header = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
    raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode()
    raw = raw_path.split(b"?", 1)[0].split(b"/")[1:]
    if raw and raw[-1] == b"":
        raw.pop()
    # Segments are split before decoding: "refs%2Fpr%2F1" stays one segment.
    segs = [unquote_to_bytes(s).decode("utf-8", "replace") for s in raw]
    query = dict(
        parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    )
    return _Request(scope["method"], segs, query, host, authorization, range_header)


async def _send(reply: Reply, method: str, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
    if reply.stream is None or method == "HEAD":
        if reply.stream is not None:
            await reply.stream.aclose()
        await send({"type": "http.response.body", "body": reply.body if method != "HEAD" else b""})
        return
    sent = 0
    gone = False
    stream = reply.stream
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            # uvicorn's send() ignores a closed connection: stop reading the store instead.
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            async for chunk in stream:
                # A store that never blocks (memory) and a send that does not either
                # would starve the watcher: let it see a hang-up between chunks.
                await anyio.lowlevel.checkpoint()
                piece = chunk[: reply.length - sent]  # never more than Content-Length
                if piece:
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                    sent += len(piece)
                if sent >= reply.length:
                    break
        except Exception as exc:
            logger.warning("stopped sending a file after %d bytes: %s", sent, exc)
        finally:
            await stream.aclose()
        tg.cancel_scope.cancel()
    if gone:
        return
    if sent < reply.length:
        # The client must see a short body, not a complete-looking one: leave the
        # response unfinished and the server closes the connection.
        logger.warning("the store gave %d of %d bytes", sent, reply.length)
        return
    await send({"type": "http.response.body", "body": b""})
