"""The backend under test: every test in this folder runs on each store.

A new backend joins the conformance suite by adding a param here (and to
``BUCKET_STORES`` if it has the bucket tier's capabilities). The S3 params
run against one moto server per session (its own process), a fresh bucket per
test; ``s3-prefixed`` puts the store under a prefix to cover prefix handling.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hgloc.backends import BucketStore, LocalBackend, MemoryBackend, StorageBackend

if TYPE_CHECKING:
    from hgloc_testing import MotoServer

BACKENDS = ["local", "memory", "s3", "s3-prefixed"]
BUCKET_STORES = ["memory", "s3", "s3-prefixed"]
"""The backends with every capability the bucket tier needs (``BucketStore``)."""
S3_PREFIXES = {"s3": "", "s3-prefixed": "team/data"}


def s3_missing_reason() -> str | None:
    """Why S3 tests cannot run here, or None when moto and aiobotocore are installed."""
    for module, extra in (("aiobotocore", "hgloc[s3]"), ("moto.server", "moto[server]")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"S3 tests need {module.split('.')[0]} (pip install '{extra}')"
    return None


def s3_trio_missing_reason() -> str | None:
    """Why S3 cannot run on trio here (aiobotocore>=3.9's httpx2 transport is needed)."""
    try:
        has_anyio_transport = importlib.util.find_spec("aiobotocore._async_primitives")
        has_httpx2 = importlib.util.find_spec("httpx2")
    except ModuleNotFoundError:
        return "aiobotocore runs on asyncio only"
    if has_anyio_transport is None or has_httpx2 is None:
        return "aiobotocore runs on asyncio only before 3.9 (trio needs its httpx2 transport)"
    return None


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    reason = s3_missing_reason()
    if reason:
        pytest.skip(reason)
    from hgloc_testing import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    """A new, empty bucket on the session's moto server."""
    return moto_server.create_bucket(f"hgloc-test-{uuid.uuid4().hex[:16]}")


def _open(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> StorageBackend:
    """A new store of ``kind`` (one of :data:`BACKENDS`); S3 kinds share the test's bucket."""
    if kind == "local":
        return LocalBackend(tmp_path / "store")
    if kind == "memory":
        return MemoryBackend()
    if kind in S3_PREFIXES:
        reason = s3_missing_reason() or (
            s3_trio_missing_reason() if anyio_backend == "trio" else None
        )
        if reason:
            pytest.skip(reason)
        from hgloc.backends import S3Backend

        server: MotoServer = request.getfixturevalue("moto_server")
        return S3Backend(
            request.getfixturevalue("s3_bucket"),
            prefix=S3_PREFIXES[kind],
            endpoint_url=server.endpoint_url,
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
            region=server.region,
        )
    raise AssertionError(kind)  # pragma: no cover - a param without a constructor


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def backend(
    backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[StorageBackend]:
    store = _open(backend_kind, request, tmp_path, anyio_backend)
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture(params=BUCKET_STORES)
def bucket_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def bucket_store(
    bucket_kind: str, request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[BucketStore]:
    """A store with the bucket tier's capabilities (conditional JSON, attributes, URLs)."""
    store = _open(bucket_kind, request, tmp_path, anyio_backend)
    assert isinstance(store, BucketStore)
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def other_handle(
    bucket_kind: str,
    bucket_store: BucketStore,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    anyio_backend: str,
) -> AsyncIterator[BucketStore]:
    """A second handle on ``bucket_store``'s objects, as another process would hold.

    On S3 a second client (its own locks: its writes race the first's at the
    server); a memory store has no second handle, so it is the same instance.
    """
    if bucket_kind == "memory":
        yield bucket_store
        return
    store = _open(bucket_kind, request, tmp_path, anyio_backend)
    assert isinstance(store, BucketStore)
    try:
        yield store
    finally:
        await store.aclose()
