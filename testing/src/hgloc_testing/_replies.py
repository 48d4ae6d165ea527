"""The Hub emulator's answers in memory: files (with ranges), errors, JSON, model-info facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import parse_qsl

from hgloc.hub_wire import ErrorCode, ModelFacts, error_document, plan_range

from ._repos import Repo

__all__ = [
    "JSON",
    "OCTETS",
    "FileRef",
    "Reply",
    "RepoCache",
    "content_type",
    "error",
    "file_reply",
    "json_reply",
    "plain",
    "query_pairs",
    "repo_facts",
    "send_reply",
]

Message: TypeAlias = MutableMapping[str, Any]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
Headers: TypeAlias = list[tuple[bytes, bytes]]

_CONTENT_TYPES = {
    ".json": b"application/json; charset=utf-8",
    ".md": b"text/markdown; charset=utf-8",
    ".txt": b"text/plain; charset=utf-8",
    ".py": b"text/x-python; charset=utf-8",
    ".gitattributes": b"text/plain; charset=utf-8",
}
OCTETS = b"application/octet-stream"
JSON = b"application/json; charset=utf-8"


class FileRef(NamedTuple):
    repo_id: str
    path: str


class Reply(NamedTuple):
    status: int
    headers: Headers
    body: bytes | memoryview = b""  # a memoryview for ranges: no copy of big files
    file: FileRef | None = None  # set when the body is a file's bytes (fault target)


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def content_type(path: str) -> bytes:
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return _CONTENT_TYPES.get(name[dot:] if dot >= 0 else name, OCTETS)


def file_reply(data: bytes, range_header: str | None, headers: Headers) -> Reply:
    """200 or 206 (or 416) answer for a file's bytes; ``headers`` carries the rest."""
    headers.append((b"accept-ranges", b"bytes"))
    span = plan_range(range_header, len(data))
    headers += span.headers()
    if span.status == 200:
        return Reply(200, headers, data)
    return Reply(span.status, headers, memoryview(data)[span.start : span.end + 1])


def error(status: int, code: ErrorCode | None, message: str, extra: Headers | None = None) -> Reply:
    body, headers = error_document(code, message)
    return Reply(status, headers + (extra or []), body)


def json_reply(body: bytes) -> Reply:
    return Reply(200, [(b"content-type", JSON), (b"content-length", b"%d" % len(body))], body)


async def send_reply(send: Send, reply: Reply) -> None:
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
    await send({"type": "http.response.body", "body": bytes(reply.body)})


def plain(status: int, text: str, extra: Headers | None = None) -> Reply:
    body = text.encode()
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    return Reply(status, headers + (extra or []), body)


def query_pairs(query: bytes) -> list[tuple[bytes, bytes]]:
    if not query:
        return []
    return [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    ]


def repo_facts(repo: Repo, index: int) -> ModelFacts:
    """What the emulator knows of ``repo`` at commit ``index``, for model info."""
    readme = repo.commits[index].get("README.md")
    return ModelFacts(
        repo.repo_id,
        repo.commit_sha(index),
        [entry.wire for entry in repo.entries(index)],
        card=readme.decode("utf-8", "replace") if readme is not None else None,
        config=repo.commits[index].get("config.json"),
        private=repo.private,
        gated=repo.gated,
        downloads=repo.downloads,
        likes=repo.likes,
        last_modified=iso(repo.last_modified(index)),
        created_at=iso(repo.created_at),
        tags=repo.model_tags,
        extra_tags=("region:us",),
        library_name=repo.library_name,
        pipeline_tag=repo.pipeline_tag,
    )


class RepoCache:
    """JSON bodies and tree listings of one repo, per commit index."""

    __slots__ = ("info", "listings", "pages")

    def __init__(self) -> None:
        self.info: dict[tuple[int, bool, object, bool], bytes] = {}
        self.listings: dict[tuple[int, str, bool], list[dict[str, Any]] | None] = {}
        self.pages: dict[tuple[int, str, bool, int, int], tuple[bytes, bool]] = {}
