"""The rest of the Hub API stock clients call on a mirror, answered from the store.

Routes (see ``hub-protocol.md``)::

    POST /api/models/{id}/paths-info/{rev}     paths_info (HfApi.get_paths_info, HfFileSystem)
    GET  /api/models/{id}/refs                 refs: the revisions the store holds
    GET  /api/models/{id}/commits/{rev}        commits: the commit the store holds there
    GET  /api/models?search=&author=&filter=&sort=&limit=   models (HfApi.list_models), paged

The store knows one commit per folder, not a history; it does not know
whether a named revision is a branch or a tag (named revisions are listed as
branches, ``refs/pr/N`` as pull requests).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from hgloc.hub_wire import (
    DEFAULT_BRANCH,
    CommitFacts,
    Endpoint,
    HubPath,
    ListingQuery,
    Ref,
    commits_document,
    dumps,
    model_summary,
    paths_info,
    refs_document,
)
from hgloc.layout import CARD_REPO_PATH
from hgloc.serve._answers import facts_of, hub_time, wire_files
from hgloc.serve._catalog import Snapshot, is_commit
from hgloc.serve._replies import hub_error, json_reply, repo_not_found
from hgloc.serve._routes import (
    HubRoute,
    locate,
    paged_reply,
    service_of,
    small_file,
    visibility_of,
)
from hgloc.serve._tokens import presented_token
from hgloc.serve._upstream import Want

if TYPE_CHECKING:
    from hgloc.serve._service import Service

__all__ = ["API_ROUTES"]

_MAX_PATHS = 10_000  # paths asked in one paths-info request
_MAX_FORM = 1 << 20


async def paths_info_route(request: Request) -> Response:
    """``POST /api/models/{id}/paths-info/{rev}``: an entry per path asked that exists."""
    where: HubPath = request.path_params["hub"]
    revision = where.revision or DEFAULT_BRANCH
    body = b""
    async for chunk in request.stream():  # a form of paths: capped, parsed here
        body += chunk
        if len(body) > _MAX_FORM:
            return hub_error(413, None, f"paths-info takes at most {_MAX_FORM} bytes of paths")
    form = parse_qsl(body.decode("utf-8", "replace"), max_num_fields=_MAX_PATHS)
    paths = [value for name, value in form if name == "paths"]
    snap = await locate(request, where.repo_id, revision, Want())
    if isinstance(snap, Response):
        return snap
    if not snap.is_full_model and any(p.strip("/") not in snap.files for p in paths):
        # A metadata-only folder does not know the rest of the repo: fetch it (pull-through).
        snap = await locate(request, where.repo_id, revision, Want(whole=True))
        if isinstance(snap, Response):
            return snap
    return json_reply(dumps(paths_info(wire_files(snap), paths)))


async def refs(request: Request) -> Response:
    """``GET /api/models/{id}/refs``: the revisions the store holds, and their commits."""
    where: HubPath = request.path_params["hub"]
    snap = await locate(request, where.repo_id, DEFAULT_BRANCH, Want())
    if isinstance(snap, Response) and snap.headers.get("x-error-code") != "RevisionNotFound":
        return snap  # refused, not found, or the upstream failed; no main branch is fine
    catalog, _ = await service_of(request).open()
    held = await catalog.revisions(where.repo_id)
    if not held:
        return repo_not_found(where.repo_id)
    branches: dict[str, Snapshot] = {}
    pulls: dict[str, Snapshot] = {}
    for snap in held:
        name = snap.revision or DEFAULT_BRANCH
        if is_commit(name):
            continue  # a folder cached at a commit is no ref
        into = pulls if name.startswith("refs/pr/") else branches
        if name not in into or snap.record.cached_timestamp > into[name].record.cached_timestamp:
            into[name] = snap
    with_prs = request.query_params.get("include_prs") in ("1", "true", "True")
    document = refs_document(
        [Ref(n, s.commit) for n, s in sorted(branches.items())],
        (),
        [Ref(n, s.commit) for n, s in sorted(pulls.items())] if with_prs else (),
    )
    return json_reply(dumps(document))


async def commits(request: Request) -> Response:
    """``GET /api/models/{id}/commits/{rev}``: the one commit the store holds at ``rev``."""
    where: HubPath = request.path_params["hub"]
    snap = await locate(request, where.repo_id, where.revision or DEFAULT_BRANCH, Want())
    if isinstance(snap, Response):
        return snap
    when = hub_time(snap.record.cached_timestamp) or "1970-01-01T00:00:00.000Z"
    fact = CommitFacts(snap.commit, when, title=f"{snap.model_id} as cached by hgloc")
    return paged_reply(request, commits_document([fact]))


async def models(request: Request) -> Response:
    """``GET /api/models``: the served models, searched, filtered, sorted and paged."""
    service = service_of(request)
    asked = ListingQuery.parse(request.query_params.multi_items())
    catalog, _ = await service.open()
    by_id: dict[str, list[Snapshot]] = defaultdict(list)
    for snap in await catalog.all():
        by_id[snap.record.resolved_repo_id or snap.model_id].append(snap)
    token = presented_token(request.headers.get("authorization"))
    summaries: list[dict[str, Any]] = []
    for repo_id, held in by_id.items():
        if not asked.matches(repo_id):
            continue
        # The default branch answers for the model when held, as model info does.
        snap = max(held, key=lambda s: (s.revision is None, s.is_full_model))
        summary = await _summary(service, snap, repo_id, token, asked)
        if summary is not None:
            summaries.append(summary)
    return paged_reply(request, asked.order(summaries), asked.limit)


async def _summary(
    service: Service, snap: Snapshot, repo_id: str, token: str | None, asked: ListingQuery
) -> dict[str, Any] | None:
    """The listing item of ``snap``; ``None`` when the client may not see it or it is
    filtered out."""
    if service.access is not None and await service.access.refusal(repo_id, None, token):
        return None  # a private repo is not even named to a client that may not read it
    card: str | None = None
    if asked.filters:  # tags come from the card: read only when asked to filter on them
        raw = await small_file(service, snap, CARD_REPO_PATH)
        card = raw.decode("utf-8", "replace") if raw is not None else None
    facts = facts_of(snap, card=card, visibility=await visibility_of(service, snap))
    summary = await service.work(model_summary, facts)
    return summary if asked.wants(summary.get("tags", [])) else None


API_ROUTES = [
    HubRoute(Endpoint.PATHS_INFO, paths_info_route, methods=("POST",)),
    HubRoute(Endpoint.REFS, refs),
    HubRoute(Endpoint.COMMITS, commits),
    HubRoute(Endpoint.MODELS, models),
]
