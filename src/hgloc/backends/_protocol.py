"""The storage protocol every store implements, as small protocols one per operation.

Keys are relative posix paths (``models/org_name/main/config.json``). Nothing
here assumes a filesystem: anything S3 could not do stays out.

As in obspec, a function asks for what it uses (``ObjectReader`` to read,
``ObjectLister`` to list) and any store with those methods fits structurally;
:class:`StorageBackend` is their union, what every hgloc store implements.
Capabilities only some stores have live in ``_capabilities.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Protocol, runtime_checkable

import attrs

__all__ = [
    "NamedStore",
    "ObjectDeleter",
    "ObjectInfo",
    "ObjectLister",
    "ObjectReader",
    "ObjectStat",
    "ObjectWriter",
    "StorageBackend",
]


@attrs.frozen
class ObjectInfo:
    """What a store knows about one object without reading it."""

    key: str
    size: int
    modified: dt.datetime | None = None


@runtime_checkable
class NamedStore(Protocol):
    """What every store has: a name for messages, locations for users, and ``aclose``."""

    @property
    def name(self) -> str:
        """A short description for messages (``local:/path``, ``s3://bucket/prefix``)."""
        ...

    def location(self, key: str) -> str:
        """Where ``key`` lives, as a user would open it (a filesystem path or a URL)."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class ObjectReader(Protocol):
    """Reading objects: whole, several at once, or a byte range as a stream."""

    async def read(self, key: str) -> bytes:
        """Return the whole object."""
        ...

    async def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Read several small objects at once; missing keys are left out of the result."""
        ...

    def read_stream(
        self,
        key: str,
        *,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = 1 << 20,
    ) -> AsyncIterator[bytes]:
        """Yield bytes ``start`` to ``end`` (exclusive; ``None``: the end) in chunks.

        Memory stays bounded whatever the object's size; a range is read
        without reading what comes before it.
        """
        ...


@runtime_checkable
class ObjectStat(Protocol):
    """Asking about one object without reading it."""

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    async def stat(self, key: str) -> ObjectInfo:
        """Size and modification time of one object."""
        ...


@runtime_checkable
class ObjectWriter(Protocol):
    """Writing objects atomically: one, several in order, or a stream."""

    async def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically replacing what was there."""
        ...

    async def write_many(self, items: Mapping[str, bytes]) -> None:
        """Store several small objects, each atomically, visible in the order given.

        When this returns, every object is stored; if it fails, the objects
        before the failing one may be stored and the ones after it are not.
        Writing a folder's marker file last relies on this order.
        """
        ...

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the concatenated chunks atomically; return the byte count.

        If the iterable raises, nothing new becomes visible under ``key``.
        """
        ...


@runtime_checkable
class ObjectLister(Protocol):
    """Listing the objects under a folder."""

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key lies under the folder ``prefix``, recursively.

        ``prefix`` names a folder: ``"a/b"`` lists ``a/b/c`` but not ``a/bc``.
        Order is unspecified.
        """
        ...

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """The keys :meth:`list` gives, without sizes and times.

        Cheaper where those cost a call per object: on a local disk, a name
        needs no ``stat``, so listing 10,000 cached models reads only names.
        """
        ...


@runtime_checkable
class ObjectDeleter(Protocol):
    """Removing objects."""

    async def delete(self, key: str) -> None:
        """Remove one object; removing a missing key is not an error."""
        ...


@runtime_checkable
class StorageBackend(
    NamedStore, ObjectReader, ObjectStat, ObjectWriter, ObjectLister, ObjectDeleter, Protocol
):
    """An async key/value store of bytes: every base operation together.

    Implementations: :class:`~hgloc.backends.LocalBackend`,
    :class:`~hgloc.backends.MemoryBackend`, :class:`~hgloc.backends.S3Backend`.

    Contract shared by all (checked by ``tests/backends``):

    * every key is validated with :func:`~hgloc.backends.validate_key` before use;
      a bad key raises :class:`~hgloc.errors.InvalidKeyError` (a ``ValueError``);
    * a missing key raises :class:`~hgloc.errors.ObjectNotFoundError`
      (a ``FileNotFoundError``);
    * writes are atomic: a reader sees the old object or the new one, never a part,
      and a failed streaming write leaves the old object (or nothing) in place.
    """
