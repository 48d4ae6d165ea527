"""The emulator's answers for the rest of the API stock clients call: listings, refs, commits,
paths-info and auth-check.

``HubApp._route`` asks :func:`answer` first; it answers these endpoints and
returns ``None`` for everything else (model info, trees, ``/resolve/``, the CDN).
Documents come from :mod:`hgloc.hub_wire`, as in ``hgloc serve``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from hgloc.hub_wire import (
    CommitFacts,
    Endpoint,
    ErrorCode,
    HubPath,
    ListingQuery,
    Ref,
    commits_document,
    decode_cursor,
    dumps,
    model_summary,
    next_link,
    page_of,
    parse_hub_path,
    paths_info,
    refs_document,
)

from ._records import Grant
from ._replies import JSON, Reply, error, iso, json_reply, repo_facts
from ._repos import Repo

if TYPE_CHECKING:
    from ._hub_app import HubApp

__all__ = ["API_ENDPOINTS", "answer", "read_body"]

API_ENDPOINTS = frozenset(
    {Endpoint.MODELS, Endpoint.PATHS_INFO, Endpoint.REFS, Endpoint.COMMITS, Endpoint.AUTH_CHECK}
)
_METHODS = {Endpoint.PATHS_INFO: "POST"}  # the others are GET (and HEAD)


class _Request(Protocol):
    """What of the app's request these answers read."""

    @property
    def method(self) -> str: ...
    @property
    def segs(self) -> list[str]: ...
    @property
    def raw(self) -> list[bytes]: ...
    @property
    def query(self) -> bytes: ...
    @property
    def host(self) -> str: ...
    @property
    def grant(self) -> Grant | None: ...
    @property
    def body(self) -> bytes: ...


def answer(app: HubApp, req: _Request) -> Reply | None:
    """The reply for an API endpoint of this module; ``None`` for any other request."""
    if not req.segs or req.segs[0] != "api":
        return None
    where = parse_hub_path(req.segs, app._known)
    if where is None or where.endpoint not in API_ENDPOINTS:
        return None
    if req.method != _METHODS.get(where.endpoint, "GET") and not (
        req.method == "HEAD" and where.endpoint not in _METHODS
    ):
        allow = _METHODS.get(where.endpoint, "GET, HEAD").encode()
        return error(405, None, "Method Not Allowed", [(b"allow", allow)])
    query = parse_qsl(req.query.decode("latin-1"), keep_blank_values=True)
    if where.endpoint is Endpoint.MODELS:
        return _models(app, req, query)
    repo = app._open_repo(req, where)  # type: ignore[arg-type]  # a rename or RepoNotFound
    if isinstance(repo, Reply):
        return repo
    if where.endpoint is Endpoint.AUTH_CHECK:
        return _auth_check(repo, req.grant)
    if where.endpoint is Endpoint.REFS:
        return _refs(repo, query)
    index = repo.resolve(where.revision)
    if index is None:
        return error(404, ErrorCode.REVISION_NOT_FOUND, f"Invalid rev id: {where.revision}")
    if where.endpoint is Endpoint.PATHS_INFO:
        paths = [v for k, v in parse_qsl(req.body.decode("utf-8", "replace")) if k == "paths"]
        files = {e.path: e.wire for e in repo.entries(index)}
        return json_reply(dumps(paths_info(files, paths)))
    return _commits(repo, index, req, where, query)


def _visible(repo: Repo, grant: Grant | None) -> bool:
    return not repo.private or (grant is not None and grant.allows(repo))


def _models(app: HubApp, req: _Request, query: Sequence[tuple[str, str]]) -> Reply:
    asked = ListingQuery.parse(query)
    summaries: list[dict[str, Any]] = []
    for repo in app.repos.values():
        if not _visible(repo, req.grant) or not asked.matches(repo.repo_id):
            continue
        summary = model_summary(repo_facts(repo, repo.head()))
        if asked.wants(summary.get("tags", [])):
            summaries.append(summary)
    return _paged(asked.order(summaries), req, query, asked.limit)


def _paged(items: list[Any], req: _Request, query: Sequence[tuple[str, str]], size: int) -> Reply:
    offset = decode_cursor(dict(query).get("cursor"))
    if offset is None:
        return error(400, None, "Invalid cursor")
    page = page_of(items, offset, size)
    body = dumps(list(page.items))
    headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(body))]
    if page.next_cursor is not None:
        url = f"http://{req.host}/" + "/".join(r.decode("latin-1") for r in req.raw)
        headers.append((b"link", next_link(url, query, page.next_cursor)))
    return Reply(200, headers, body)


def _auth_check(repo: Repo, grant: Grant | None) -> Reply:
    if repo.gated and (grant is None or not grant.allows(repo)):
        status = 401 if grant is None else 403
        message = f"Access to model {repo.repo_id} is restricted."
        return error(status, ErrorCode.GATED_REPO, message)
    return json_reply(b"{}")


def _refs(repo: Repo, query: Sequence[tuple[str, str]]) -> Reply:
    def ref(name: str, index: int) -> Ref:
        return Ref(name, repo.commit_sha(index))

    branches = [ref(n, i) for n, i in repo.branches.items() if not n.startswith("refs/pr/")]
    prs = [ref(n, i) for n, i in repo.branches.items() if n.startswith("refs/pr/")]
    with_prs = dict(query).get("include_prs") in ("1", "true", "True")
    tags = [ref(n, i) for n, i in repo.tags.items()]
    return json_reply(dumps(refs_document(branches, tags, prs if with_prs else ())))


def _commits(
    repo: Repo, index: int, req: _Request, where: HubPath, query: Sequence[tuple[str, str]]
) -> Reply:
    # A linear history: the commits before ``index``, newest first.
    history = [
        CommitFacts(
            repo.commit_sha(i),
            iso(repo.last_modified(i)),
            title=f"Commit {i}",
            message=f"Commit {i} of {repo.repo_id}",
            authors=(repo.namespace or "hgloc",),
        )
        for i in range(index, -1, -1)
    ]
    return _paged(commits_document(history), req, query, 50)


async def read_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]], limit: int = 1 << 20
) -> bytes:
    """A request's body (a form), up to about ``limit`` bytes."""
    body = b""
    while len(body) <= limit:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return body
