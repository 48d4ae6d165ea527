"""Storage backends: small async protocols, several stores.

The base operations are one protocol each (``ObjectReader``, ``ObjectWriter``,
``ObjectLister``, ``ObjectDeleter``, ``ObjectStat``, ``NamedStore``) and
``StorageBackend`` is their union. Capabilities only some stores have are
protocols too: ``LocalPaths`` (local), ``ConditionalJson``, ``AttributedWrites``,
``PublicUrls`` and their union with the base, ``BucketStore`` (memory, S3).

``LocalBackend`` (a folder) and ``MemoryBackend`` are always available;
``S3Backend`` needs the ``s3`` extra (``pip install 'hgloc[s3]'``) and is
imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hgloc.backends._capabilities import (
    AttributedWrites,
    BucketStore,
    ConditionalJson,
    ConditionalPut,
    LocalPaths,
    ObjectHead,
    PresignedUrls,
    PublicUrls,
    PutResult,
)
from hgloc.backends._keys import join_key, validate_key, validate_prefix
from hgloc.backends._local import LocalBackend
from hgloc.backends._memory import MemoryBackend
from hgloc.backends._protocol import (
    NamedStore,
    ObjectDeleter,
    ObjectInfo,
    ObjectLister,
    ObjectReader,
    ObjectStat,
    ObjectWriter,
    StorageBackend,
)

if TYPE_CHECKING:
    from hgloc.backends._s3 import S3Backend

    # Never run: mypy checks here that each store has the capabilities promised above.
    _local_base: StorageBackend = LocalBackend(".")
    _local_paths: LocalPaths = LocalBackend(".")
    _memory: BucketStore = MemoryBackend()
    _s3: BucketStore = S3Backend("bucket")
    _memory_put: ConditionalPut = MemoryBackend()
    _s3_put: ConditionalPut = S3Backend("bucket")
    _s3_presigned: PresignedUrls = S3Backend("bucket")

__all__ = [
    "AttributedWrites",
    "BucketStore",
    "ConditionalJson",
    "ConditionalPut",
    "LocalBackend",
    "LocalPaths",
    "MemoryBackend",
    "NamedStore",
    "ObjectDeleter",
    "ObjectHead",
    "ObjectInfo",
    "ObjectLister",
    "ObjectReader",
    "ObjectStat",
    "ObjectWriter",
    "PresignedUrls",
    "PublicUrls",
    "PutResult",
    "S3Backend",
    "StorageBackend",
    "join_key",
    "validate_key",
    "validate_prefix",
]

for _obj in (
    AttributedWrites,
    BucketStore,
    ConditionalJson,
    ConditionalPut,
    LocalBackend,
    LocalPaths,
    MemoryBackend,
    NamedStore,
    ObjectDeleter,
    ObjectHead,
    ObjectInfo,
    ObjectLister,
    ObjectReader,
    ObjectStat,
    ObjectWriter,
    PresignedUrls,
    PublicUrls,
    PutResult,
    StorageBackend,
):
    _obj.__module__ = __name__


def __getattr__(name: str) -> Any:
    # S3 pulls in aiobotocore; load it only when someone asks for it.
    if name == "S3Backend":
        from hgloc.backends._s3 import S3Backend

        return S3Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
