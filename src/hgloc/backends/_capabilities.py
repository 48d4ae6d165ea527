"""Capabilities beyond the base protocol, one small protocol each (as obspec does).

Code asks for exactly what it uses: the bucket tier needs conditional JSON
writes, attributed puts and public URLs; staging needs local paths. Any store
that has the methods fits, structurally.

=====================  ==========================================  ======================
protocol               methods                                     stores
=====================  ==========================================  ======================
``LocalPaths``         ``root``, ``target_path``                   local
``ConditionalJson``    ``read_json_with_etag``, ``update_json``    memory, S3
``AttributedWrites``   ``put``, ``put_stream``, ``head``           memory, S3
``PublicUrls``         ``public_url``                              memory, S3
``BucketStore``        all of the last three + ``StorageBackend``  memory, S3
``ConditionalPut``     ``put_if_absent``, ``put_if_match``         memory, S3
``PresignedUrls``      ``presigned_url``                           S3
=====================  ==========================================  ======================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from hgloc.backends._protocol import StorageBackend

__all__ = [
    "AttributedWrites",
    "BucketStore",
    "ConditionalJson",
    "ConditionalPut",
    "LocalPaths",
    "ObjectHead",
    "PresignedUrls",
    "PublicUrls",
    "PutResult",
]


@attrs.frozen
class ObjectHead:
    """What a store says of one object without reading it, with its user metadata.

    ``key`` is relative to the store; ``metadata`` holds the user metadata the
    object was written with (on S3 the ``x-amz-meta-*`` headers without that
    prefix), e.g. ``{"sha256": "..."}``.
    """

    key: str
    size: int
    etag: str
    metadata: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    modified: dt.datetime | None = None


@attrs.frozen
class PutResult:
    """An object just written: its key, size and ETag.

    ETags are quoted, as S3 sends them; a multipart upload's has the form
    ``"<hex>-<number of parts>"``.
    """

    key: str
    size: int
    etag: str


@runtime_checkable
class LocalPaths(Protocol):
    """A store whose objects are files on this machine (renames and links can land them)."""

    @property
    def root(self) -> Path:
        """The folder that holds every object."""
        ...

    def target_path(self, key: str) -> Path:
        """The path to write ``key`` at, refusing symlinked folders that lead out of ``root``."""
        ...


@runtime_checkable
class ConditionalJson(Protocol):
    """JSON objects updated without losing a concurrent writer's change (ETag conditions)."""

    async def read_json_with_etag(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """The object and the ETag of the version read; ``(None, None)`` if missing.

        Raises :class:`~hgloc.errors.IndexCorruptError` when the object is not a
        JSON object.
        """
        ...

    async def update_json(
        self,
        key: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        public: bool = False,
        attempts: int = 20,
    ) -> dict[str, Any]:
        """Apply ``mutate`` to a JSON object without losing concurrent updates.

        Reads the object and its ETag, calls ``mutate`` on the parsed dict (``{}``
        if missing), and writes the result only if the object is unchanged
        (``If-Match``, or ``If-None-Match: *`` when creating it). On a conflict it
        waits a little (jittered) and starts over, up to ``attempts`` times, so
        ``mutate`` may run more than once. A stored object that is not a JSON
        object raises :class:`~hgloc.errors.IndexCorruptError` and is never
        overwritten. Returns the dict written.
        """
        ...


@runtime_checkable
class AttributedWrites(Protocol):
    """Writes that carry user metadata and an access flag, and heads that read them back."""

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        public: bool = False,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Store ``data`` and return its ETag."""
        ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        public: bool = False,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> PutResult:
        """Store a stream atomically (as ``write_stream``) with ``put``'s options."""
        ...

    async def head(self, key: str) -> ObjectHead:
        """Size, ETag, user metadata and modification time of one object."""
        ...


@runtime_checkable
class PublicUrls(Protocol):
    """A store whose public objects can be read over plain HTTP, without credentials."""

    def public_url(self, key: str) -> str:
        """The URL an anonymous reader GETs ``key`` at."""
        ...


@runtime_checkable
class BucketStore(StorageBackend, ConditionalJson, AttributedWrites, PublicUrls, Protocol):
    """Everything the team bucket tier asks of a store (S3, or memory in tests)."""


@runtime_checkable
class ConditionalPut(Protocol):
    """Whole-object writes that land only if the object is absent, or unchanged since read.

    What leases are made of (:mod:`hgloc.bucket`): ``If-None-Match: *`` takes a
    lease, ``If-Match: <etag>`` renews or hands it over. Some S3-compatible
    servers ignore both headers; :func:`hgloc.bucket.require_conditions` finds out.
    """

    async def put_if_absent(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> str | None:
        """Write ``data`` only if ``key`` does not exist; its ETag, or ``None`` if it did."""
        ...

    async def put_if_match(
        self, key: str, data: bytes, etag: str, *, content_type: str | None = None
    ) -> str | None:
        """Write ``data`` only if ``key``'s ETag is ``etag``; the new ETag, or ``None`` if not."""
        ...


@runtime_checkable
class PresignedUrls(Protocol):
    """A store that can hand out time-limited URLs to its private objects."""

    async def presigned_url(self, key: str, *, seconds: int = 3600) -> str:
        """A URL anyone may GET ``key`` at, for ``seconds``."""
        ...
