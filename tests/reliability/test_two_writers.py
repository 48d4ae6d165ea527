"""Two writers at once: two processes on one local store, two syncing into one bucket.

They end consistent: every file whole and equal to its source (no torn file),
every model listed, every index entry present (none lost to the other writer).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from hgloc import Config, Localizer
from hgloc.layout import METADATA_FILE
from hgloc_testing import HubEmulator, MotoServer, make_corpus

from .helpers import (
    PYTHON,
    STAGING,
    Figures,
    big_repo,
    check_listed,
    child_env,
    source_files,
    temp_files,
)

pytestmark = pytest.mark.anyio

BIG = "reliability/big-shared"
BIG_SIZE = 16 << 20

_PREFETCH_CHILD = """
import json, sys
from hgloc import Config
from hgloc.sync import prefetch
config = Config(models_store_path=sys.argv[1], hf_endpoint=sys.argv[2], offline=False)
ids = sys.argv[3].split(",")
metadata_only = sys.argv[4] == "metadata"
report = prefetch(ids, concurrency=8, metadata_only=metadata_only, config=config)
print(json.dumps(report.as_dict()))
"""
_FULL_CHILD = """
import json, sys, anyio
from hgloc import Config, Localizer
from hgloc import TransferSettings
config = Config(models_store_path=sys.argv[1], hf_endpoint=sys.argv[2], offline=False)
transfer = TransferSettings(part_size=256 << 10, split_above=256 << 10, connections_per_file=2)
async def main():
    async with Localizer(config, transfer=transfer) as loc:
        report = await loc.prefetch([sys.argv[3]], metadata_only=False)
    print(json.dumps(report.as_dict()))
anyio.run(main)
"""


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    repos = [r for r in make_corpus(134, seed=23) if not r.repo_id.startswith("hgloc")]
    emulator = HubEmulator([*repos, big_repo(BIG, BIG_SIZE, small_files=4, seed=9)])
    with emulator.run_in_thread():
        yield emulator


def corpus_ids(hub: HubEmulator) -> list[str]:
    return [repo_id for repo_id in hub.repos if repo_id != BIG]


def run_together(commands: list[list[str]], env: dict[str, str]) -> list[str]:
    children = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in commands
    ]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode in (0, 1), err
        outputs.append(out)
    return outputs


async def test_two_processes_prefetching_overlapping_lists_into_one_store(
    hub: HubEmulator, tmp_path: Path, figures: Figures
) -> None:
    ids = corpus_ids(hub)
    overlap, only_a, only_b = ids[:40], ids[40:80], ids[80:120]
    root = tmp_path / "store"
    config = Config(models_store_path=root, hf_endpoint=hub.url, offline=False)
    hub.faults.latency = 0.005  # enough for the two runs to interleave on the shared 40
    try:
        # Both start with the shared models, so they write the same folders at once.
        outputs = await anyio.to_thread.run_sync(
            run_together,
            [
                [PYTHON, "-c", _PREFETCH_CHILD, str(root), str(hub.url), ",".join(ids), "metadata"]
                for ids in (overlap + only_a, overlap + only_b)
            ],
            child_env(),
        )
    finally:
        hub.faults.latency = 0.0
    reports = [json.loads(out) for out in outputs]
    assert [r["failed"] for r in reports] == [0, 0]
    fetched_twice = {m["model_id"] for m in reports[0]["models"] if m["status"] == "fetched"} & {
        m["model_id"] for m in reports[1]["models"] if m["status"] == "fetched"
    }
    listed, checked = await anyio.to_thread.run_sync(check_listed, config, hub)
    assert listed == 120
    async with Localizer(config) as loc:
        assert (await loc.verify()).ok
        assert {m.model_id for m in await loc.list_models()} == set(overlap + only_a + only_b)
    assert temp_files(root) == []
    figures.add("two writers, one store", "models", listed)
    figures.add("two writers, one store", "shared models", len(overlap))
    figures.add("two writers, one store", "written by both at once", len(fetched_twice))
    figures.add("two writers, one store", "bytes equal to source", checked)
    figures.add("two writers, one store", "torn or missing files", 0)


async def test_two_processes_downloading_one_full_model_into_one_store(
    hub: HubEmulator, tmp_path: Path, figures: Figures
) -> None:
    root = tmp_path / "store"
    config = Config(models_store_path=root, hf_endpoint=hub.url, offline=False)
    hub.faults.latency = 0.03  # about a second each: the two runs overlap
    hub.reset_requests()
    try:
        outputs = await anyio.to_thread.run_sync(
            run_together,
            [[PYTHON, "-c", _FULL_CHILD, str(root), str(hub.url), BIG]] * 2,
            child_env(),
        )
    finally:
        hub.faults.latency = 0.0
    parts = BIG_SIZE // (256 << 10)
    ranged = len([r for r in hub.requests if r.is_cdn])
    reports = [json.loads(out) for out in outputs]
    errors = [m["error"] for r in reports for m in r["models"] if m["error"]]
    assert errors == []
    folder = root / "reliability_big-shared" / "default_revision"
    source = source_files(hub, BIG)
    assert {name: (folder / name).read_bytes() for name in source} == source
    async with Localizer(config) as loc:
        assert (await loc.verify()).ok
    assert (folder / METADATA_FILE).exists()
    assert temp_files(root) == [] and not (root / STAGING).exists()
    figures.add("two writers, one full model", "bytes", BIG_SIZE)
    figures.add(
        "two writers, one full model", "ranged requests (file parts)", f"{ranged} ({parts})"
    )
    figures.add("two writers, one full model", "failed", len(errors))


# -- one bucket ------------------------------------------------------------------------------


def member(hub: HubEmulator, moto: MotoServer, bucket: str, root: Path) -> Config:
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


def bucket_objects(moto: MotoServer, bucket: str) -> dict[str, bytes]:
    client = moto.client()
    out: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            out[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


async def test_two_processes_syncing_overlapping_stores_into_one_bucket(
    hub: HubEmulator, moto: MotoServer, tmp_path: Path, figures: Figures
) -> None:
    bucket = moto.create_bucket(f"writers-{uuid.uuid4().hex[:10]}")
    ids = corpus_ids(hub)
    overlap, only_a, only_b = ids[:30], ids[30:60], ids[60:90]
    stores = [tmp_path / "a", tmp_path / "b"]
    for root, mine in zip(stores, (overlap + only_a, overlap + only_b), strict=True):
        async with Localizer(member(hub, moto, bucket, root)) as loc:
            assert (await loc.prefetch(mine, upload=False)).ok
    env = child_env(
        HGLOC_S3_BUCKET_NAME=bucket,
        HGLOC_S3_ENDPOINT_URL=moto.endpoint_url,
        HGLOC_AWS_ACCESS_KEY_ID=moto.access_key_id,
        HGLOC_AWS_SECRET_ACCESS_KEY=moto.secret_access_key,
        HGLOC_S3_DATA_PREFIX="team",
        HF_HUB_OFFLINE="1",
    )
    outputs = await anyio.to_thread.run_sync(
        run_together,
        [
            [
                PYTHON,
                "-m",
                "hgloc",
                "--store",
                str(root),
                "sync-all-local-models-to-s3",
                "--json",
                "--concurrency",
                "8",
            ]
            for root in stores
        ],
        env,
    )
    reports = [json.loads(out) for out in outputs]
    assert [r["failed"] for r in reports] == [0, 0], reports
    objects = bucket_objects(moto, bucket)
    index = json.loads(objects["team/private_models_index.json"])
    everyone = overlap + only_a + only_b
    assert sorted(e["model_id"] for e in index.values()) == sorted(everyone)  # none lost
    checked = 0
    for model_id in everyone:
        folder = f"team/models/{model_id.replace('/', '_')}/default_revision"
        record = json.loads(objects[f"{folder}/{METADATA_FILE}"])
        assert record["model_id"] == model_id
        source = source_files(hub, model_id)
        for name in record["files"]:
            assert objects[f"{folder}/{name}"] == source[name]  # whole, from either writer
            checked += len(source[name])
    assert len(objects) == 1 + sum(1 + len(_names(hub, m)) for m in everyone)
    async with Localizer(member(hub, moto, bucket, tmp_path / "reader")) as loc:
        assert (await loc.verify(bucket=True)).ok
    figures.add("two writers, one bucket", "models", len(everyone))
    figures.add("two writers, one bucket", "shared models", len(overlap))
    figures.add("two writers, one bucket", "index entries", len(index))
    figures.add("two writers, one bucket", "objects", len(objects))
    figures.add("two writers, one bucket", "bytes equal to source", checked)


def _names(hub: HubEmulator, model_id: str) -> list[str]:
    return [n for n in source_files(hub, model_id) if n in ("model_card.md", "config.json")]
