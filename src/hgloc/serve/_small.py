"""Small answers from memory: configs, cards, model info and trees, once read.

Most requests a mirror gets are for a few small documents (``config.json`` of
many models, again and again). This middleware keeps the whole answer (status,
headers, body) of a small ``GET``/``HEAD`` in a bounded LRU, keyed by the
request, and checks on every hit that the folder answering it is still the
same: the catalog re-reads a folder's metadata every ``cache_seconds``, so a
model re-downloaded, completed or replaced (here or by another replica over
the bucket) is answered fresh within that delay, like every other lookup.

Never cached: ranges, big files (streamed from the store), errors, answers of
a pull-through fetch in progress (the folder is not there yet).
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

import attrs
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hgloc.errors import HglocError
from hgloc.hub_wire import DEFAULT_BRANCH, Endpoint, parse_hub_path, path_segments

if TYPE_CHECKING:
    from hgloc.serve._catalog import Snapshot
    from hgloc.serve._service import Service

__all__ = ["MAX_BODY", "SmallAnswers"]

MAX_BODY = 1 << 20  # bytes: configs, cards, tokenizer files, model info, trees
_MAX_BYTES = 64 << 20  # the whole cache
_MAX_ANSWERS = 16384  # HEAD answers have no body: bounded by count too


@attrs.frozen
class _Answer:
    folder: tuple[Any, ...]  # which folder answered: the entry is good while it answers
    start: Message
    body: bytes


def _folder(snap: Snapshot) -> tuple[Any, ...]:
    return (snap.prefix, snap.commit, snap.record.cached_timestamp, snap.is_full_model)


class SmallAnswers:
    """ASGI middleware serving small answers of the Hub routes from memory (see module doc)."""

    def __init__(self, app: ASGIApp, service: Service, max_bytes: int = _MAX_BYTES) -> None:
        self.app = app
        self.service = service
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self._answers: collections.OrderedDict[tuple[Any, ...], _Answer] = collections.OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        found = await self._lookup(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        key, folder = found
        answer = self._answers.get(key)
        if answer is not None and answer.folder == folder:
            self._answers.move_to_end(key)
            self.hits += 1
            await send(answer.start)
            await send({"type": "http.response.body", "body": answer.body})
            return
        await self._remember(scope, receive, send, key, folder)

    async def _lookup(self, scope: Scope) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
        """The cache key and the answering folder, or ``None`` when this is not cacheable."""
        auth: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"range":
                return None
            if name == b"authorization":
                auth = value
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        where = parse_hub_path(path_segments(raw))
        if where is None:
            return None
        try:
            catalog, _ = await self.service.open()
            snap = await catalog.find(where.repo_id, where.revision or DEFAULT_BRANCH)
        except (HglocError, OSError, ValueError):
            return None  # the route meets the same error and answers it as the Hub would
        if snap is None:
            return None
        if where.endpoint is Endpoint.RESOLVE:
            file = snap.files.get(where.path)
            if file is None or file.size > MAX_BODY:
                return None
        key = (scope["method"], raw, scope.get("query_string", b""), auth)
        return key, _folder(snap)

    async def _remember(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: tuple[Any, ...],
        folder: tuple[Any, ...],
    ) -> None:
        start: Message | None = None
        parts: list[bytes] = []
        size, announced, stored = 0, -1, False

        async def capture(message: Message) -> None:
            nonlocal start, size, announced, stored
            if message["type"] == "http.response.start":
                start = message
                announced = _content_length(message)
            elif message["type"] == "http.response.body" and size <= MAX_BODY:
                body: bytes = message.get("body", b"")
                size += len(body)
                parts.append(body)
                # Stored before the last bytes leave: a client that asks again at once hits.
                # The last bytes are those Content-Length announced: a streamed answer may
                # never send its closing empty message once the client has it all and hangs
                # up. A body cut short (a hang-up, a store that gave less) never gets here.
                done = not message.get("more_body", False) or size == announced
                if done and not stored:
                    stored = True
                    self._store(key, start, folder, parts, size)
            await send(message)

        await self.app(scope, receive, capture)

    def _store(
        self,
        key: tuple[Any, ...],
        start: Message | None,
        folder: tuple[Any, ...],
        parts: list[bytes],
        size: int,
    ) -> None:
        if start is None or start["status"] != 200 or size > MAX_BODY:
            return
        answer = _Answer(folder, start, b"".join(parts))
        old = self._answers.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self._answers[key] = answer
        self.size += len(answer.body)
        while self._answers and (self.size > self.max_bytes or len(self._answers) > _MAX_ANSWERS):
            _, evicted = self._answers.popitem(last=False)
            self.size -= len(evicted.body)


def _content_length(start: Message) -> int:
    """The body size an answer announces, or ``-1``."""
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return -1
