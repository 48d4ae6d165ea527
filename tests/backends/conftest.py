"""The backend under test: every test in this folder runs on each store.

A new backend joins the conformance suite by adding a param here. The S3 params
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

from hgloc.backends import LocalBackend, MemoryBackend, StorageBackend

if TYPE_CHECKING:
    from hgloc_testing import MotoServer

BACKENDS = ["local", "memory", "s3", "s3-prefixed"]
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


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[StorageBackend]:
    store: StorageBackend
    if request.param == "local":
        store = LocalBackend(tmp_path / "store")
    elif request.param == "memory":
        store = MemoryBackend()
    elif request.param in S3_PREFIXES:
        reason = s3_missing_reason() or (
            s3_trio_missing_reason() if anyio_backend == "trio" else None
        )
        if reason:
            pytest.skip(reason)
        from hgloc.backends import S3Backend

        server: MotoServer = request.getfixturevalue("moto_server")
        store = S3Backend(
            request.getfixturevalue("s3_bucket"),
            prefix=S3_PREFIXES[request.param],
            endpoint_url=server.endpoint_url,
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
            region=server.region,
        )
    else:  # pragma: no cover - a param without a constructor is a bug in this file
        raise AssertionError(request.param)
    try:
        yield store
    finally:
        await store.aclose()
