"""The team bucket end to end: two members, an anonymous reader, concurrent writers.

A real S3 server (moto, in its own process) and the Hub emulator; nothing mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hub_fixtures import corpus_hub, normal_ids

import hgloc
from hgloc import Config, Localizer, Source, Status
from hgloc.errors import OfflineModeError
from hgloc.layout import bucket_id
from hgloc.sources import Backoff, RetryPolicy
from hgloc_testing import HubEmulator, MotoServer

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_retries=3, backoff=Backoff(base=0.01, cap=0.05))
SRC = str(Path(hgloc.__file__).resolve().parents[1])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # one loop is enough here; the S3 backend's trio path is in tests/backends


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def module_hub() -> Iterator[HubEmulator]:
    hub = corpus_hub(150)
    with hub.run_in_thread():
        yield hub


@pytest.fixture
def hub(module_hub: HubEmulator) -> HubEmulator:
    module_hub.reset_requests()
    return module_hub


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.create_bucket(f"team-{uuid.uuid4().hex[:10]}")


def member(
    tmp_path: Path, name: str, hub: HubEmulator, moto: MotoServer, bucket: str, **overrides: Any
) -> Config:
    values: dict[str, Any] = {
        "models_store_path": tmp_path / name,
        "hf_endpoint": hub.url,
        "offline": False,
        "s3_bucket_name": bucket,
        "s3_endpoint_url": moto.endpoint_url,
        "aws_access_key_id": moto.access_key_id,
        "aws_secret_access_key": moto.secret_access_key,
        "s3_data_prefix": "team",
    }
    values.update(overrides)
    return Config(**values)


async def test_team_workflow(
    tmp_path: Path,
    hub: HubEmulator,
    moto: MotoServer,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private_id, public_id = normal_ids(hub, 2)
    one = member(tmp_path, "one", hub, moto, bucket)
    ok, path = await hgloc.download_model_metadata(private_id, config=one)
    assert ok, path
    assert f"by_bucket/{bucket_id(bucket, moto.endpoint_url)}/" in path
    ok, path = await hgloc.download_model_metadata(public_id, make_public=True, config=one)
    assert ok, path

    # Member 2: the bucket, no Hub.
    hub.reset_requests()
    two = member(tmp_path, "two", hub, moto, bucket, offline=True)
    listed = {(m["model_id"], m["is_public"]) for m in await hgloc.list_s3_models(config=two)}
    assert listed == {(private_id, False), (public_id, True)}
    for model_id in (private_id, public_id):
        ok, path = await hgloc.download_model_metadata(model_id, config=two)
        assert ok, path
        assert await hgloc.get_cached_model_config_content(model_id, config=two)
    assert {m["model_id"] for m in await hgloc.list_local_models(config=two)} == {
        private_id,
        public_id,
    }
    assert hub.requests == []

    # An anonymous reader: no keys, no AWS chain; sees exactly the public models.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    anon = member(
        tmp_path,
        "anon",
        hub,
        moto,
        bucket,
        offline=True,
        aws_access_key_id=None,
        aws_secret_access_key=None,
    )
    assert [m["model_id"] for m in await hgloc.list_s3_models(config=anon)] == [public_id]
    ok, path = await hgloc.download_model_metadata(public_id, config=anon)
    assert ok and "/public/" in path
    card = await hgloc.get_cached_model_card_content(public_id, config=anon)
    assert card == await hgloc.get_cached_model_card_content(public_id, config=one)
    ok, message = await hgloc.download_model_metadata(private_id, config=anon)
    assert not ok and "offline" in message.lower()
    assert hub.requests == []


async def test_private_objects_stay_private(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    import httpx2

    private_id, public_id = normal_ids(hub, 2, start=2)
    one = member(tmp_path, "one", hub, moto, bucket)
    await hgloc.download_model_metadata(private_id, config=one)
    await hgloc.download_model_metadata(public_id, make_public=True, config=one)
    async with Localizer(one) as loc:
        tier = await loc.bucket()
        assert tier is not None
        private_url = tier.backend.public_url(f"{tier.folder(private_id, None)}/config.json")
        public_url = tier.backend.public_url(f"{tier.folder(public_id, None)}/config.json")
        manifest_url = tier.backend.public_url("public_models.json")
    async with httpx2.AsyncClient() as client:
        assert (await client.get(private_url)).status_code == 403
        assert (await client.get(public_url)).status_code == 200
        manifest = (await client.get(manifest_url)).json()
    [entry] = manifest.values()
    assert entry["model_id"] == public_id
    assert entry["model_config_url"] == public_url
    assert (await _get(entry["model_card_url"])) == 200


async def _get(url: str) -> int:
    import httpx2

    async with httpx2.AsyncClient() as client:
        return (await client.get(url)).status_code


async def test_skip_s3_upload_keeps_the_model_local(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    [model_id] = normal_ids(hub, 1, start=4)
    one = member(tmp_path, "one", hub, moto, bucket)
    ok, _ = await hgloc.download_model_metadata(model_id, skip_s3_upload=True, config=one)
    assert ok
    assert await hgloc.list_s3_models(config=one) == []
    ok, message = await hgloc.sync_local_model_to_s3(model_id, config=one)
    assert ok, message
    assert [m["model_id"] for m in await hgloc.list_s3_models(config=one)] == [model_id]


async def test_sharing_a_commit_held_as_the_branch_uploads_that_folder(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    [model_id] = normal_ids(hub, 1, start=17)
    one = member(tmp_path, "one", hub, moto, bucket)
    async with Localizer(one) as loc:
        held = await loc.download(model_id, upload=False)
        assert held.commit is not None
        shared = await loc.upload(model_id, held.commit)
        assert shared.status is Status.UPLOADED and shared.commit == held.commit
        # The result names the bucket folder that was written: the branch's.
        assert shared.path == (await loc.upload(model_id)).path
    listed = await hgloc.list_s3_models(config=one)
    assert [(m["model_id"], m["revision"]) for m in listed] == [(model_id, None)]


async def test_a_commit_held_as_a_branch_in_the_bucket_comes_from_the_bucket(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    [model_id] = normal_ids(hub, 1, start=18)
    one = member(tmp_path, "one", hub, moto, bucket)
    async with Localizer(one) as loc:
        shared = await loc.download(model_id)  # main, uploaded to the bucket
        config_json = await loc.cached_config(model_id)
    assert shared.commit is not None and config_json is not None
    hub.reset_requests()
    two = member(tmp_path, "two", hub, moto, bucket, offline=True)
    async with Localizer(two) as loc:
        got = await loc.download(model_id, shared.commit)
        assert got.status is Status.FETCHED and got.source is Source.BUCKET
        assert got.commit == shared.commit and got.path and got.path.endswith(shared.commit)
        held = await loc.cached(model_id, shared.commit)
        assert held is not None and held.revision == shared.commit and not held.is_public
        assert await loc.cached_config(model_id, shared.commit) == config_json
        with pytest.raises(OfflineModeError):  # a commit the bucket does not hold
            await loc.download(model_id, "0" * 40)
    # A bulk run reads the bucket's index once: its listing knows the commits too.
    three = member(tmp_path, "three", hub, moto, bucket, offline=True)
    report = await hgloc.prefetch([f"{model_id}@{shared.commit}"], config=three)
    assert report.ok, report.failed
    assert [(r.status, r.source) for r in report.results] == [(Status.FETCHED, Source.BUCKET)]
    assert hub.requests == []


async def test_sync_all_is_resumable_and_skips_what_matches(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    ids = normal_ids(hub, 12, start=5)
    one = member(tmp_path, "one", hub, moto, bucket)
    async with Localizer(one) as loc:
        report = await loc.prefetch(ids, upload=False)
        assert report.ok
        first = await loc.sync_all_to_bucket(concurrency=4)
        assert [r.status for r in first.results] == [Status.UPLOADED] * 12
        again = await loc.sync_all_to_bucket(concurrency=4)
        assert [r.status for r in again.results] == [Status.SKIPPED] * 12
    assert sorted(m["model_id"] for m in await hgloc.list_s3_models(config=one)) == sorted(ids)


def test_two_processes_adding_30_models_each_lose_no_index_entry(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    ids = normal_ids(hub, 60, start=0)
    assert len(ids) == 60
    script = """
import sys, hgloc
from hgloc import Config
from hgloc.sync import prefetch
config = Config(models_store_path=sys.argv[1], hf_endpoint=sys.argv[2], offline=False,
    s3_bucket_name=sys.argv[3], s3_endpoint_url=sys.argv[4], aws_access_key_id="testing",
    aws_secret_access_key="testing", s3_data_prefix="team")
report = prefetch(sys.argv[5].split(","), concurrency=8, config=config)
assert report.ok, [r.error for r in report.failed]
"""
    env = {**os.environ, "PYTHONPATH": SRC}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                str(tmp_path / f"w{n}"),
                str(hub.url),
                bucket,
                moto.endpoint_url,
                ",".join(chunk),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, chunk in enumerate((ids[:30], ids[30:]))
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    body = moto.client().get_object(Bucket=bucket, Key="team/private_models_index.json")
    index = json.loads(body["Body"].read())
    assert sorted(entry["model_id"] for entry in index.values()) == sorted(ids)


async def test_a_bucket_written_by_hg_localization_is_listed_and_read(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    client = moto.client()
    card = b"# Legacy model\n\nwritten by HG-Localization\n"
    config = json.dumps({"model_type": "bert", "hidden_size": 768}).encode()
    folder = "team/models/legacy-org_legacy-model/default_revision"
    meta = {
        "s3_bucket_name": bucket,
        "s3_endpoint_url": moto.endpoint_url,
        "s3_data_prefix": "team",
        "cached_timestamp": "2025-01-01T00:00:00",
        "is_public": False,
        "type": "model",
    }
    for name, data in (
        ("model_card.md", card),
        ("config.json", config),
        (".hg_localization_bucket_metadata.json", json.dumps(meta).encode()),
    ):
        client.put_object(Bucket=bucket, Key=f"{folder}/{name}", Body=data)
    index = {
        "legacy-org/legacy-model---default_revision": {
            "model_id": "legacy-org/legacy-model",
            "revision": None,
            "s3_prefix": folder,
            "s3_bucket": bucket,
            "has_card": True,
            "has_config": True,
            "has_tokenizer": False,
            "is_full_model": False,
            "last_updated": "2025-01-01T00:00:00",
        }
    }
    client.put_object(
        Bucket=bucket, Key="team/private_models_index.json", Body=json.dumps(index).encode()
    )
    reader = member(tmp_path, "reader", hub, moto, bucket, offline=True)
    [entry] = await hgloc.list_s3_models(config=reader)
    assert entry["model_id"] == "legacy-org/legacy-model"
    ok, path = await hgloc.download_model_metadata("legacy-org/legacy-model", config=reader)
    assert ok, path
    assert (
        await hgloc.get_cached_model_card_content("legacy-org/legacy-model", config=reader)
        == card.decode()
    )
    got = await hgloc.get_cached_model_config_content("legacy-org/legacy-model", config=reader)
    assert got == {"model_type": "bert", "hidden_size": 768}


async def test_index_pointing_outside_its_folder_is_refused(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    client = moto.client()
    index = {
        "evil/model---default_revision": {
            "model_id": "evil/model",
            "revision": None,
            "s3_prefix": "elsewhere/secrets",
            "s3_bucket": bucket,
        }
    }
    client.put_object(
        Bucket=bucket, Key="team/private_models_index.json", Body=json.dumps(index).encode()
    )
    reader = member(tmp_path, "reader", hub, moto, bucket, offline=True)
    assert await hgloc.list_s3_models(config=reader) == []


async def test_offline_member_without_the_model_gets_a_clear_error(
    tmp_path: Path, hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    two = member(tmp_path, "two", hub, moto, bucket, offline=True)
    async with Localizer(two, retry=FAST_RETRY) as loc:
        with pytest.raises(OfflineModeError):
            await loc.download("nobody/not-in-bucket")


def test_config_fields_survive(tmp_path: Path) -> None:
    config = Config(s3_bucket_name="b", s3_data_prefix="/p/")
    assert attrs.evolve(config, offline=True).s3_data_prefix == "p"
