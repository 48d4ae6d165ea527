"""Files stream from the store: ranges on each backend, bounded memory, and an early hang-up."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from hgloc.backends import LocalBackend, MemoryBackend, ObjectInfo, StorageBackend
from hgloc.config import Config
from hgloc.layout import FileRecord, ModelRecord
from hgloc.serve import create_app
from hgloc.serve._stream import CHUNK, open_body
from hgloc.store import ModelStore

from .conftest import running, s3_missing_reason

DATA = os.urandom(2 * CHUNK + 12345)  # three chunks, the last one short
SPANS = [
    (0, len(DATA) - 1),
    (0, 0),
    (CHUNK - 1, CHUNK),  # across a chunk boundary
    (CHUNK, 2 * CHUNK - 1),  # exactly the second chunk
    (10, 2 * CHUNK + 100),  # three chunks, cut at both ends
    (len(DATA) - 5, len(DATA) - 1),
]


async def read_span(backend: StorageBackend, start: int, end: int) -> tuple[int, list[int]]:
    whole = (start, end) == (0, len(DATA) - 1)
    body = await open_body(backend, "m/blob.bin", start, end, whole=whole)
    sizes: list[int] = []
    try:
        async for chunk in body:
            sizes.append(len(chunk))
            assert chunk == DATA[start + sum(sizes[:-1]) : start + sum(sizes)]
    finally:
        await body.aclose()
    return body.total, sizes


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["local", "memory"])
async def test_ranges_on_local_and_memory_stores(kind: str, tmp_path: Path) -> None:
    backend: StorageBackend = LocalBackend(tmp_path) if kind == "local" else MemoryBackend()
    await backend.write("m/blob.bin", DATA)
    for start, end in SPANS:
        total, sizes = await read_span(backend, start, end)
        assert total == len(DATA)
        assert sum(sizes) == end - start + 1, (start, end)
        assert max(sizes) <= CHUNK  # streamed, never the whole object at once


@pytest.fixture(scope="module")
def bucket(moto: Any) -> str:
    return str(moto.create_bucket(f"hgloc-stream-{uuid.uuid4().hex[:12]}"))


@pytest.mark.anyio
async def test_s3_objects_are_ranged_gets_streamed_through(
    moto: Any, bucket: str, anyio_backend: str
) -> None:
    if anyio_backend == "trio" and s3_missing_reason() is None:
        pytest.importorskip("aiobotocore._async_primitives", reason="aiobotocore on trio: 3.9+")
    from hgloc.backends import S3Backend
    from hgloc_testing import S3Proxy, run_asgi_in_thread

    proxy = S3Proxy(moto.endpoint_url)
    with run_asgi_in_thread(proxy, name="s3-recorder") as endpoint:
        async with S3Backend(
            bucket,
            prefix="p",
            endpoint_url=endpoint,
            access_key_id=moto.access_key_id,
            secret_access_key=moto.secret_access_key,
        ) as backend:
            await backend.write("m/blob.bin", DATA)
            proxy.seen.clear()
            for start, end in SPANS:
                total, sizes = await read_span(backend, start, end)
                assert total == len(DATA)
                assert sum(sizes) == end - start + 1, (start, end)
                assert max(sizes) <= CHUNK
    gets = [asked for method, asked in proxy.seen if method == "GET"]
    assert gets == [None, *(f"bytes={s}-{e}" for s, e in SPANS[1:])]
    # One HEAD (size, and "missing" before any header is sent) and one GET a read.
    assert [method for method, _ in proxy.seen].count("HEAD") == len(SPANS)
    assert len(gets) == len(SPANS)


class CountingStore:
    """A memory store that counts the chunks each stream handed out."""

    def __init__(self) -> None:
        self.inner = MemoryBackend("counted")
        self.chunks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def read_stream(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        async for chunk in self.inner.read_stream(key, chunk_size=chunk_size):
            self.chunks += 1
            yield chunk

    async def stat(self, key: str) -> ObjectInfo:
        return await self.inner.stat(key)


def test_a_client_that_hangs_up_stops_the_read(tmp_path: Path) -> None:
    big = b"\x00" * (96 * CHUNK)
    store = CountingStore()
    record = ModelRecord(
        "org/big",
        None,
        "b" * 40,
        {"weights.bin": FileRecord("weights.bin", len(big), None, hashlib.sha256(big).hexdigest())},
        is_full_model=True,
    )
    anyio.run(
        ModelStore(store.inner).save, "org_big/default_revision", {"weights.bin": big}, record
    )
    app = create_app(Config(models_store_path=tmp_path), store=store)
    with running(app) as url:
        with httpx2.stream("GET", f"{url}/org/big/resolve/main/weights.bin", timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["content-length"] == str(len(big))
            first = next(r.iter_bytes())
            assert first
        deadline = time.monotonic() + 5
        seen = -1
        while time.monotonic() < deadline and seen != store.chunks:  # until the reads stop
            seen = store.chunks
            time.sleep(0.3)
    assert store.chunks < 24, store.chunks  # of 96: the server stopped reading the store


def test_importing_the_server_does_not_import_uvicorn() -> None:
    code = (
        "import json, sys\n"
        "import hgloc, hgloc.cli, hgloc.serve\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('uvicorn', 'starlette', 'playwright'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    help_code = (
        "import json, sys\nsys.argv = ['hgloc', '--help']\nfrom hgloc.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps('hgloc.serve' in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", help_code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "false"
