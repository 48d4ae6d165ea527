"""A store in a dict: for tests and short-lived services."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping

from hgloc.backends._keys import validate_key, validate_prefix
from hgloc.backends._protocol import ObjectInfo
from hgloc.errors import ObjectNotFoundError

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Objects held in this instance's dict (never a class-level global).

    >>> backend = MemoryBackend()
    """

    def __init__(self, label: str = "memory") -> None:
        self._label = label
        self._objects: dict[str, tuple[bytes, dt.datetime]] = {}

    @property
    def name(self) -> str:
        return f"memory:{self._label}"

    def __repr__(self) -> str:
        return f"MemoryBackend({self._label!r}, objects={len(self._objects)})"

    def location(self, key: str) -> str:
        return f"memory://{self._label}/{validate_key(key)}"

    def _get(self, key: str) -> bytes:
        try:
            return self._objects[validate_key(key)][0]
        except KeyError:
            raise ObjectNotFoundError(f"no object {key!r} in {self.name}") from None

    async def read(self, key: str) -> bytes:
        return self._get(key)

    async def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = [validate_key(key) for key in keys]
        return {key: self._objects[key][0] for key in wanted if key in self._objects}

    async def read_stream(
        self,
        key: str,
        *,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = 1 << 20,
    ) -> AsyncIterator[bytes]:
        data = self._get(key)
        stop = len(data) if end is None else min(end, len(data))
        for offset in range(start, stop, chunk_size):
            yield data[offset : min(offset + chunk_size, stop)]

    async def write(self, key: str, data: bytes) -> None:
        self._objects[validate_key(key)] = (bytes(data), dt.datetime.now(dt.UTC))

    async def write_many(self, items: Mapping[str, bytes]) -> None:
        for key in items:
            validate_key(key)
        for key, data in items.items():
            await self.write(key, data)

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        validate_key(key)
        parts = [chunk async for chunk in chunks]  # nothing visible until the stream ends
        data = b"".join(parts)
        await self.write(key, data)
        return len(data)

    async def exists(self, key: str) -> bool:
        return validate_key(key) in self._objects

    async def stat(self, key: str) -> ObjectInfo:
        try:
            data, modified = self._objects[validate_key(key)]
        except KeyError:
            raise ObjectNotFoundError(f"no object {key!r} in {self.name}") from None
        return ObjectInfo(key, len(data), modified)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        prefix = validate_prefix(prefix)
        start = f"{prefix}/" if prefix else ""
        for key, (data, modified) in list(self._objects.items()):
            if key.startswith(start):
                yield ObjectInfo(key, len(data), modified)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        async for info in self.list(prefix):
            yield info.key

    async def delete(self, key: str) -> None:
        self._objects.pop(validate_key(key), None)

    async def aclose(self) -> None:
        return None
