"""Two ``sync-all`` runs into one bucket at once: each model is uploaded by one of them only.

Both runs check the bucket before uploading; without the model's lease both would
find it missing and both upload it. With it, the second waits, then finds every
object in place and skips the model.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from hgloc import Localizer
from hgloc.config import Config
from hgloc_testing import HubEmulator, make_corpus

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    for module in ("aiobotocore", "moto"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}")
    from hgloc_testing import MotoServer

    with MotoServer() as server:
        yield server


def member(hub: HubEmulator, moto: Any, bucket: str, root: Path) -> Config:
    assert hub.url is not None
    return Config(
        models_store_path=root,
        hf_endpoint=hub.url,
        offline=False,
        s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url,
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
        s3_data_prefix="team",
    )


async def test_two_concurrent_syncs_upload_each_model_once(moto: Any, tmp_path: Path) -> None:
    hub = HubEmulator(make_corpus(12, seed=19))
    bucket = moto.create_bucket(f"sync-lease-{uuid.uuid4().hex[:10]}")
    with hub.run_in_thread():
        ids = sorted(hub.repos)
        configs = [member(hub, moto, bucket, tmp_path / name) for name in ("a", "b")]
        for config in configs:
            async with Localizer(config) as loc:
                assert (await loc.prefetch(ids, upload=False)).ok
        reports: list[Any] = [None, None]

        async def sync(i: int) -> None:
            async with Localizer(configs[i]) as loc:
                reports[i] = await loc.sync_all_to_bucket(concurrency=4)

        async with anyio.create_task_group() as tg:
            for i in range(2):
                tg.start_soon(sync, i)
    assert all(r.ok for r in reports)
    for model_id in ids:
        statuses = sorted(
            str(m.status) for r in reports for m in r.results if m.model_id == model_id
        )
        assert statuses == ["skipped", "uploaded"], (model_id, statuses)
    leftovers = moto.client().list_objects_v2(Bucket=bucket, Prefix="team/_hgloc/")
    assert leftovers.get("KeyCount", 0) == 0  # leases released, probes cleaned up
