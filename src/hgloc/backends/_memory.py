"""A store in a dict: for tests and short-lived services.

Besides the base protocol it has the bucket tier's capabilities (conditional
JSON updates, attributed writes, public URLs) with S3's semantics, so bucket
logic can be tested without a server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import anyio.lowlevel
import attrs

from hgloc.backends._capabilities import ObjectHead, PutResult
from hgloc.backends._json_updates import KeyLocks, parse_json_object, update_json
from hgloc.backends._keys import validate_key, validate_prefix
from hgloc.backends._protocol import ObjectInfo
from hgloc.errors import ObjectNotFoundError

__all__ = ["MemoryBackend"]


@attrs.frozen
class _Stored:
    data: bytes
    modified: dt.datetime
    etag: str
    metadata: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    public: bool = False


def _stored(
    data: bytes, metadata: Mapping[str, str] | None = None, public: bool = False
) -> _Stored:
    data = bytes(data)
    # S3's ETag of a single PutObject: the quoted MD5 of the bytes.
    etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
    return _Stored(data, dt.datetime.now(dt.UTC), etag, dict(metadata or {}), public)


class MemoryBackend:
    """Objects held in this instance's dict (never a class-level global).

    >>> backend = MemoryBackend()
    >>> backend.public_url("models/m/main/model card.md")
    'memory://memory/models/m/main/model%20card.md'
    """

    def __init__(self, label: str = "memory") -> None:
        self._label = label
        self._objects: dict[str, _Stored] = {}
        self._json_locks = KeyLocks()

    @property
    def name(self) -> str:
        return f"memory:{self._label}"

    def __repr__(self) -> str:
        return f"MemoryBackend({self._label!r}, objects={len(self._objects)})"

    def location(self, key: str) -> str:
        return f"memory://{self._label}/{validate_key(key)}"

    def public_url(self, key: str) -> str:
        """Where an anonymous reader would find ``key`` (nothing serves it: a name for tests)."""
        return f"memory://{quote(self._label, safe='')}/{quote(validate_key(key), safe='/')}"

    def is_public(self, key: str) -> bool:
        """Whether ``key`` was last written with ``public=True`` (S3's ``public-read``)."""
        return self._stored(key).public

    def _stored(self, key: str) -> _Stored:
        try:
            return self._objects[validate_key(key)]
        except KeyError:
            raise ObjectNotFoundError(f"no object {key!r} in {self.name}") from None

    # -- the StorageBackend protocol ------------------------------------------

    async def read(self, key: str) -> bytes:
        return self._stored(key).data

    async def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = [validate_key(key) for key in keys]
        return {key: self._objects[key].data for key in wanted if key in self._objects}

    async def read_stream(
        self,
        key: str,
        *,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = 1 << 20,
    ) -> AsyncIterator[bytes]:
        data = self._stored(key).data
        stop = len(data) if end is None else min(end, len(data))
        for offset in range(start, stop, chunk_size):
            yield data[offset : min(offset + chunk_size, stop)]

    async def write(self, key: str, data: bytes) -> None:
        self._objects[validate_key(key)] = _stored(data)

    async def write_many(self, items: Mapping[str, bytes]) -> None:
        for key in items:
            validate_key(key)
        for key, data in items.items():
            await self.write(key, data)

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        return (await self.put_stream(key, chunks)).size

    async def exists(self, key: str) -> bool:
        return validate_key(key) in self._objects

    async def stat(self, key: str) -> ObjectInfo:
        stored = self._stored(key)
        return ObjectInfo(key, len(stored.data), stored.modified)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        prefix = validate_prefix(prefix)
        start = f"{prefix}/" if prefix else ""
        for key, stored in list(self._objects.items()):
            if key.startswith(start):
                yield ObjectInfo(key, len(stored.data), stored.modified)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        async for info in self.list(prefix):
            yield info.key

    async def delete(self, key: str) -> None:
        self._objects.pop(validate_key(key), None)

    async def aclose(self) -> None:
        self._json_locks.clear()

    # -- AttributedWrites -------------------------------------------------------

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        public: bool = False,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Store ``data`` with ``metadata`` and the ``public`` flag; return its ETag."""
        stored = self._objects[validate_key(key)] = _stored(data, metadata, public)
        return stored.etag

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        public: bool = False,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> PutResult:
        """Store a stream atomically (nothing visible until it ends) with ``put``'s options."""
        validate_key(key)
        data = b"".join([chunk async for chunk in chunks])
        etag = await self.put(
            key, data, public=public, content_type=content_type, metadata=metadata
        )
        return PutResult(key, len(data), etag)

    async def head(self, key: str) -> ObjectHead:
        """Size, ETag, user metadata and modification time of one object."""
        stored = self._stored(key)
        return ObjectHead(key, len(stored.data), stored.etag, stored.metadata, stored.modified)

    # -- ConditionalJson ----------------------------------------------------------

    async def read_json_with_etag(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """A JSON object and the ETag of the version read; ``(None, None)`` if missing."""
        stored = self._objects.get(validate_key(key))
        if stored is None:
            return None, None
        return parse_json_object(self.location(key), stored.data), stored.etag

    async def update_json(
        self,
        key: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        public: bool = False,
        attempts: int = 20,
    ) -> dict[str, Any]:
        """Apply ``mutate`` to a JSON object with S3's conditions (If-Match, If-None-Match).

        See :class:`~hgloc.backends.ConditionalJson` for the rules.
        """
        validate_key(key)

        async def read() -> tuple[dict[str, Any] | None, str | None]:
            return await self.read_json_with_etag(key)

        async def write_if(body: bytes, etag: str | None) -> bool:
            # A real store answers later: other tasks run meanwhile, and a
            # write that lands in between makes this one a conflict, as on S3.
            await anyio.lowlevel.checkpoint()
            current = self._objects.get(key)
            if (current.etag if current is not None else None) != etag:
                return False
            await self.put(key, body, public=public, content_type="application/json")
            return True

        return await update_json(
            self.location(key), self._json_locks(key), read, write_if, mutate, attempts
        )

    # -- ConditionalPut -----------------------------------------------------------

    async def put_if_absent(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> str | None:
        """Write ``data`` only if ``key`` is absent ; its ETag or ``None``."""
        validate_key(key)
        await anyio.lowlevel.checkpoint()  # as on S3, others run while the request is out
        if key in self._objects:
            return None
        return await self.put(key, data, content_type=content_type)

    async def put_if_match(
        self, key: str, data: bytes, etag: str, *, content_type: str | None = None
    ) -> str | None:
        """Write ``data`` only if ``key``'s ETag is ``etag``; the new ETag, or ``None``."""
        validate_key(key)
        await anyio.lowlevel.checkpoint()
        current = self._objects.get(key)
        if current is None or current.etag != etag:
            return None
        return await self.put(key, data, content_type=content_type)
