"""The Hub emulator as a raw ASGI app: model info, tree listings, /resolve/ and a CDN.

Routing and answers follow docs/hub-protocol.md (what huggingface_hub 2.4 expects).
Handlers are pure functions of the request and the repos; faults (latency,
errors, drops, corruption) are applied around them in :meth:`HubApp.__call__`.
Everything expensive (hashes, JSON bodies, tree pages) is computed once and cached.
Size: over 500 lines, as the Hub's routes and their shared request state read best together.
"""

from __future__ import annotations

import base64
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, MutableMapping
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import quote, unquote, urlencode

import anyio

from hgloc.hub_wire import (
    Endpoint,
    ErrorCode,
    HubPath,
    dumps,
    model_info,
    parse_hub_path,
    path_segments,
    tree_listing,
)

from ._api_routes import answer as answer_api
from ._api_routes import read_body
from ._faults import Faults, hostile
from ._hostile import hostile_reply
from ._records import ConnectionDropped, Grant, RequestRecord, as_grant
from ._replies import (
    JSON,
    OCTETS,
    FileRef,
    Reply,
    RepoCache,
    content_type,
    error,
    file_reply,
    json_reply,
    plain,
    query_pairs,
    repo_facts,
    send_reply,
)
from ._repos import FileEntry, Repo
from ._xet import XetMode, paced_chunks, send_paced

__all__ = ["ConnectionDropped", "Grant", "HubApp", "RequestRecord"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
Headers: TypeAlias = list[tuple[bytes, bytes]]

_RECORDED_HEADERS = (b"authorization", b"range", b"accept-encoding", b"user-agent")
_CHUNK = 1 << 20


class _Request(NamedTuple):
    method: str
    raw: list[bytes]  # raw (percent-encoded) path segments
    segs: list[str]  # decoded path segments
    query: bytes
    host: str
    port: int
    grant: Grant | None  # None: anonymous (or a token the hub does not know)
    token_invalid: bool
    range: str | None
    body: bytes = b""  # read for POST only (paths-info)


class HubApp:
    """ASGI app answering the Hub protocol for ``repos``.

    See :class:`hgloc_testing.HubEmulator` for the meaning of the arguments; the app
    is usable on its own (e.g. with an in-process ASGI transport).

    ``GET /_emulator/stats`` (no Hub has it) answers ``{"requests": n, "paths":
    {path: n}}``, the requests served so far (in all, and per URL path), itself
    not counted: how a benchmark checks that a run made no request, when the
    emulator runs in another process. ``xet``: see :mod:`hgloc_testing._xet`.
    """

    def __init__(
        self,
        repos: Iterable[Repo] = (),
        *,
        renames: Mapping[str, str] | None = None,
        tokens: Mapping[str, str | Collection[str] | Grant] | None = None,
        faults: Faults | None = None,
        page_size: int = 1000,
        resolver_quota: int = 100_000,
        resolver_window: int = 300,
        cdn_base: str | None = None,
        record_requests: bool = True,
        reject_invalid_tokens: bool = False,
        xet: XetMode | None = None,
    ) -> None:
        self.xet = xet
        self.path_counts: Counter[str] = Counter()
        self.repos: dict[str, Repo] = {}
        self._caches: dict[str, RepoCache] = {}
        for repo in repos:
            self.add_repo(repo)
        self.renames: dict[str, str] = dict(renames or {})
        self.tokens: dict[str, Grant] = {t: as_grant(v) for t, v in (tokens or {}).items()}
        self.page_size = page_size
        self.resolver_quota = resolver_quota
        self.resolver_window = resolver_window
        self.cdn_base = cdn_base.rstrip("/") if cdn_base else None
        self.record_requests = record_requests
        self.reject_invalid_tokens = reject_invalid_tokens
        self.requests: list[RequestRecord] = []
        self.served = 0  # requests answered, recorded or not
        self._faults = faults or Faults()
        self._rng = random.Random(self._faults.seed)
        self._count = 0
        self._every = 0
        self._window_start: float | None = None
        self._window_used = 0
        self._lfs_blobs: dict[str, bytes] = {}

    # -- state --------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._faults = faults
        self._rng = random.Random(faults.seed)
        self._every = -1  # restart the rate_limit_every count

    def add_repo(self, repo: Repo) -> None:
        """Serve ``repo`` (replacing any repo with the same id)."""
        self.repos[repo.repo_id] = repo
        self._caches[repo.repo_id] = RepoCache()

    def _cache(self, repo: Repo) -> RepoCache:
        cache = self._caches.get(repo.repo_id)
        if cache is None:
            cache = self._caches[repo.repo_id] = RepoCache()
        return cache

    # -- ASGI entry ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; nothing else is served
            return
        method: str = scope["method"]
        host = ""
        token: str | None = None
        range_header: str | None = None
        recorded: dict[str, str] | None = {} if self.record_requests else None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"authorization":
                auth = value.decode("latin-1")
                if auth[:7].lower() == "bearer ":
                    token = auth[7:].strip()
            elif name == b"range":
                range_header = value.decode("latin-1")
            if recorded is not None and name in _RECORDED_HEADERS:
                recorded[name.decode()] = value.decode("latin-1")
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode()
        raw = raw_path.split(b"?", 1)[0].split(b"/")[1:]
        if raw and raw[-1] == b"":
            raw.pop()
        segs = path_segments(raw_path)
        if segs == ["_emulator", "stats"]:
            await send_reply(
                send, json_reply(dumps({"requests": self.served, "paths": self.path_counts}))
            )
            return
        self.served += 1
        self.path_counts[scope["path"]] += 1
        grant = self.tokens.get(token) if token is not None else None
        server = scope.get("server")
        port = server[1] if server and server[1] else 80
        if ":" in host:
            host_port = host.rpartition(":")[2]
            port = int(host_port) if host_port.isdigit() else port
        request = _Request(
            method,
            raw,
            segs,
            scope.get("query_string", b""),
            host,
            port,
            grant,
            token is not None and grant is None,
            range_header,
            await read_body(receive) if method == "POST" else b"",
        )

        faults = self._faults
        if faults.latency > 0:
            await anyio.sleep(faults.latency)
        reply, fault = self._answer(request, faults)

        drop = (
            method == "GET"
            and len(reply.body) > 0
            and faults.drop_rate > 0
            and self._rng.random() < faults.drop_rate
        )
        if drop:
            fault = "drop"
        if recorded is not None:
            self.requests.append(
                RequestRecord(
                    method,
                    scope["path"],
                    request.query.decode("latin-1"),
                    host,
                    recorded,
                    reply.status,
                    fault,
                )
            )
        await send(
            {"type": "http.response.start", "status": reply.status, "headers": reply.headers}
        )
        body = reply.body if method != "HEAD" else b""
        if drop:  # half the body, then abort: the client sees a short read
            body = body[: len(body) // 2]
        pace = None if drop else self._pace(request, reply, faults)
        if pace is not None:
            await send_paced(send, body, *pace)
            return
        if len(body) <= _CHUNK and not drop:
            await send({"type": "http.response.body", "body": bytes(body)})
            return
        # Big bodies go out in chunks so uvicorn's flow control bounds the memory used.
        view = memoryview(body)
        for start in range(0, len(view), _CHUNK):
            chunk = bytes(view[start : start + _CHUNK])
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if drop:
            raise ConnectionDropped(scope["path"])
        await send({"type": "http.response.body", "body": b""})

    def _answer(self, request: _Request, faults: Faults) -> tuple[Reply, str | None]:
        """The reply and the name of the fault injected, if any (drops excepted)."""
        if faults.rate_limit_every != self._every:  # count from when the knob was set
            self._every, self._count = faults.rate_limit_every, 0
        self._count += 1
        if faults.fail_all:
            return plain(503, "Service Unavailable"), "fail_all"
        if faults.rate_limit_every > 0 and self._count % faults.rate_limit_every == 0:
            retry = (b"retry-after", b"%d" % faults.retry_after)
            return plain(429, "Too Many Requests", [retry]), "rate_limit"
        if faults.error_rate > 0 and self._rng.random() < faults.error_rate:
            return plain(503, "Service Unavailable"), "error"
        if request.token_invalid and self.reject_invalid_tokens:
            return error(401, None, "Invalid credentials in Authorization header"), None
        reply, fault = hostile(self._route(request), faults, "/" + "/".join(request.segs))
        reply, resized = hostile_reply(request.segs, reply, faults, self._known)
        if resized is not None:
            return reply, resized
        if reply.file is None or request.method != "GET" or not reply.body:
            return reply, fault
        repo_id, path = reply.file
        body = reply.body
        if reply.status == 200 and faults.matches(faults.oversize_paths, repo_id, path):
            body = bytes(body) + b"\0" * faults.oversize_by
            headers = [
                (k, b"%d" % len(body) if k == b"content-length" else v) for k, v in reply.headers
            ]
            return reply._replace(body=body, headers=headers), "oversize"
        if faults.matches(faults.corrupt_paths, repo_id, path) or (
            faults.corrupt_rate > 0 and self._rng.random() < faults.corrupt_rate
        ):
            flipped = bytearray(body)
            flipped[self._rng.randrange(len(flipped))] ^= 0xFF
            return reply._replace(body=bytes(flipped)), "corrupt"
        return reply, fault

    def _pace(self, req: _Request, reply: Reply, faults: Faults) -> tuple[int, float] | None:
        """How a body is sent slowly: a dripping file, or the CDN's per-connection cap."""
        file = reply.file
        if file is not None and faults.matches(faults.drip_paths, file.repo_id, file.path):
            return 1, faults.drip_interval
        if self.xet is not None and self.xet.bandwidth > 0 and self.xet.owns(req.segs):
            return paced_chunks(self.xet.bandwidth)
        return None

    # -- routing ------------------------------------------------------------------------------

    def _route(self, req: _Request) -> Reply:
        segs = req.segs
        api = answer_api(self, req)  # listings, refs, commits, paths-info: _api_routes.py
        if api is not None:
            return api
        if req.method not in ("GET", "HEAD"):
            return plain(405, "Method Not Allowed", [(b"allow", b"GET, HEAD")])
        if not segs:
            return plain(404, "Not Found")
        if segs[0] == "cdn":
            return self._cdn(req)
        if self.xet is not None and (token_reply := self.xet.read_token(segs)) is not None:
            return token_reply
        where = parse_hub_path(segs, self._known)
        if where is None:
            return plain(404, "Not Found")
        if where.endpoint is Endpoint.RESOLVE:
            return self._resolve(req, where)
        repo = self._open_repo(req, where)
        if isinstance(repo, Reply):
            return repo
        if where.endpoint is Endpoint.MODEL_INFO:
            return self._info(req, repo, where.revision)
        return self._tree(req, repo, where.revision or "", where.path)

    def _known(self, repo_id: str) -> bool:
        return repo_id in self.repos or repo_id in self.renames

    def _open_repo(self, req: _Request, where: HubPath) -> Repo | Reply:
        """The repo if this request may see it; else a rename redirect or RepoNotFound."""
        repo = self.repos.get(where.repo_id)
        if repo is None:
            target = self.renames.get(where.repo_id)
            if target is not None:
                # Relative Location on the same host: clients follow it and keep auth.
                start, end = where.repo_span
                parts = [b"", *req.raw[:start], quote(target).encode(), *req.raw[end:]]
                location = b"/".join(parts) + (b"?" + req.query if req.query else b"")
                return plain(307, f"Moved to {target}", [(b"location", location)])
            return self._repo_not_found(req)
        if repo.private and (req.grant is None or not req.grant.allows(repo)):
            return self._repo_not_found(req)
        return repo

    @staticmethod
    def _repo_not_found(req: _Request) -> Reply:
        # Without a valid token the Hub cannot tell "missing" from "private": 401 for both.
        status = 404 if req.grant is not None else 401
        return error(status, ErrorCode.REPO_NOT_FOUND, "Repository not found")

    # -- /api/models --------------------------------------------------------------------------

    @staticmethod
    def _revision_not_found(revision: str) -> Reply:
        return error(404, ErrorCode.REVISION_NOT_FOUND, f"Invalid rev id: {revision}")

    def _info(self, req: _Request, repo: Repo, revision: str | None) -> Reply:
        index = repo.resolve(revision)
        if index is None:
            return self._revision_not_found(revision or "")
        blobs = any(k == b"blobs" and v.lower() == b"true" for k, v in query_pairs(req.query))
        cache = self._cache(repo)
        key = (index, blobs, repo.gated, repo.private)
        body = cache.info.get(key)
        if body is None:
            body = cache.info[key] = dumps(model_info(repo_facts(repo, index), blobs=blobs))
        return json_reply(body)

    def _tree(self, req: _Request, repo: Repo, revision: str, path: str) -> Reply:
        index = repo.resolve(revision)
        if index is None:
            return self._revision_not_found(revision)
        query = query_pairs(req.query)
        recursive = any(k == b"recursive" and v.lower() == b"true" for k, v in query)
        cursor = next((v for k, v in query if k == b"cursor"), b"")
        try:
            offset = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
        except ValueError:
            return error(400, None, "Invalid cursor")
        cache = self._cache(repo)
        key = (index, path, recursive, offset, self.page_size)
        page = cache.pages.get(key)
        if page is None:
            where = (index, path, recursive)
            if where not in cache.listings:
                files = {e.path: e.wire for e in repo.entries(index)}
                cache.listings[where] = tree_listing(files, path, recursive=recursive)
                if self.xet is not None:
                    self.xet.annotate(cache.listings[where])
            listing = cache.listings[where]
            if listing is None:
                message = f"{path} does not exist on {revision}"
                return error(404, ErrorCode.ENTRY_NOT_FOUND, message)
            page = cache.pages[key] = (
                dumps(listing[offset : offset + self.page_size]),
                offset + self.page_size < len(listing),
            )
        body, more = page
        headers: Headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(body))]
        if more:
            next_cursor = base64.urlsafe_b64encode(b"%d" % (offset + self.page_size))
            params = [(k, v) for k, v in query if k != b"cursor"] + [(b"cursor", next_cursor)]
            url = b"http://%s/%s?%s" % (
                req.host.encode("latin-1"),
                b"/".join(req.raw),
                urlencode(params).encode(),
            )
            headers.append((b"link", b'<%s>; rel="next"' % url))
        return Reply(200, headers, body)

    # -- /{repo}/resolve/{revision}/{path} ----------------------------------------------------

    def _ratelimit(self) -> tuple[Headers, bool]:
        """RateLimit headers for a /resolve/ call, and whether the quota is exhausted."""
        now = time.monotonic()
        if self._window_start is None or now - self._window_start >= self.resolver_window:
            self._window_start, self._window_used = now, 0
        reset = max(int(self._window_start + self.resolver_window - now), 1)
        exhausted = self._window_used >= self.resolver_quota
        if not exhausted:
            self._window_used += 1
        left = self.resolver_quota - self._window_used
        headers = [
            (b"ratelimit", b'"resolvers";r=%d;t=%d' % (left, reset)),
            (
                b"ratelimit-policy",
                b'"fixed window";"resolvers";q=%d;w=%d'
                % (self.resolver_quota, self.resolver_window),
            ),
        ]
        if exhausted:
            headers.append((b"retry-after", b"%d" % reset))
        return headers, exhausted

    def _resolve(self, req: _Request, where: HubPath) -> Reply:
        limit, exhausted = self._ratelimit()
        if exhausted:
            return plain(429, "Too Many Requests", limit)
        repo = self._open_repo(req, where)
        if isinstance(repo, Reply):
            return repo._replace(headers=repo.headers + limit)
        revision, path = where.revision or "", where.path
        if repo.gated and path not in repo.ungated_paths:
            if req.grant is None:
                message = (
                    f"Access to model {repo.repo_id} is restricted. You must have access to it "
                    "and be authenticated to access it. Please log in."
                )
                return error(401, ErrorCode.GATED_REPO, message, limit)
            if not req.grant.allows(repo):
                message = (
                    f"Access to model {repo.repo_id} is restricted and you are not in the "
                    "authorized list."
                )
                return error(403, ErrorCode.GATED_REPO, message, limit)
        index = repo.resolve(revision)
        if index is None:
            message = f"Invalid rev id: {revision}"
            return error(404, ErrorCode.REVISION_NOT_FOUND, message, limit)
        commit = repo.commit_sha(index).encode()
        entry = repo.entry(index, path)
        if entry is None:
            extra = [(b"x-repo-commit", commit), *limit]
            message = f"{path} does not exist on {revision}"
            return error(404, ErrorCode.ENTRY_NOT_FOUND, message, extra)
        headers: Headers = [(b"x-repo-commit", commit), *limit]
        if entry.sha256 is not None:
            self._lfs_blobs[entry.sha256] = entry.data
            if self.xet is not None:
                hub_base, cdn_base = f"http://{req.host}", self._cdn_base(req)
                redirect = self.xet.redirect(
                    hub_base, cdn_base, repo.repo_id, commit.decode(), entry
                )
                return redirect._replace(
                    headers=redirect.headers + limit, file=FileRef(repo.repo_id, path)
                )
            location = self._cdn_url(req, repo.repo_id, entry)
            headers += [
                (b"location", location.encode()),
                (b"etag", b'"%s"' % entry.oid.encode()),
                (b"x-linked-etag", b'"%s"' % entry.sha256.encode()),
                (b"x-linked-size", b"%d" % entry.size),
                (b"content-length", b"0"),
            ]
            return Reply(302, headers)
        headers += [
            (b"etag", b'"%s"' % entry.oid.encode()),
            (b"content-type", content_type(path)),
        ]
        return file_reply(entry.data, req.range, headers)._replace(file=FileRef(repo.repo_id, path))

    # -- CDN ----------------------------------------------------------------------------------

    def _cdn_base(self, req: _Request) -> str:
        if self.cdn_base is not None:
            return self.cdn_base
        # A different host name for the same socket: clients must drop auth on the way.
        hostname = req.host.rpartition(":")[0] if ":" in req.host else req.host
        other = "127.0.0.1" if hostname == "localhost" else "localhost"
        return f"http://{other}:{req.port}"

    def _cdn_url(self, req: _Request, repo_id: str, entry: FileEntry) -> str:
        return (
            f"{self._cdn_base(req)}/cdn/lfs/{entry.sha256}?"
            f"repo={quote(repo_id, safe='')}&path={quote(entry.path, safe='')}"
        )

    def _cdn(self, req: _Request) -> Reply:
        sha256 = req.segs[2] if len(req.segs) == 3 else ""
        if self.xet is not None and self.xet.owns(req.segs):
            signed = self.xet.check(sha256, req.query)
            if isinstance(signed, Reply):
                return signed
            repo_id, path = signed
        elif len(req.segs) != 3 or req.segs[1] != "lfs":
            return plain(404, "NoSuchKey")
        else:
            params = dict(query_pairs(req.query))
            repo_id = unquote(params.get(b"repo", b"").decode("latin-1"))
            path = unquote(params.get(b"path", b"").decode("latin-1"))
        data = self._lfs_blobs.get(sha256)
        if data is None:  # a URL built from a tree listing, never resolved yet
            data = self._find_lfs(repo_id, sha256)
            if data is None:
                return plain(404, "NoSuchKey")
            self._lfs_blobs[sha256] = data
        name = path.rpartition("/")[2] or sha256
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
        disposition = f"inline; filename*=UTF-8''{quote(name, safe='')}; filename=\"{ascii_name}\";"
        headers: Headers = [
            (b"content-type", OCTETS),
            (b"etag", b'"%s"' % sha256.encode()),
            (b"content-disposition", disposition.encode()),
        ]
        return file_reply(data, req.range, headers)._replace(file=FileRef(repo_id, path))

    def _find_lfs(self, repo_id: str, sha256: str) -> bytes | None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return None
        for index in range(len(repo.commits)):
            for entry in repo.entries(index):
                if entry.sha256 == sha256:
                    return entry.data
        return None
