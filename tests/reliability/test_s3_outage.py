"""S3 trouble: a bucket that stops answering for a while must not hold up the Hub side.

The S3 server that dies mid-sync and comes back (the next run completes the bucket)
is proven by ``tests/cli/test_s3_commands.py::
test_s3_killed_mid_sync_fails_cleanly_and_a_rerun_completes_the_bucket``; it is not
repeated here. This file covers a *slow* S3: a proxy in front of moto holds every
byte for a few seconds in the middle of a ``prefetch`` that uploads what it fetches.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from hgloc.layout import METADATA_FILE, bucket_id
from hgloc_testing import HubEmulator, MotoServer, make_corpus

from .helpers import PYTHON, Figures, PausableProxy, child_env, rss_bytes, source_files

pytestmark = pytest.mark.anyio

PAUSE = 3.0  # seconds S3 holds every byte
_CHILD = """
import json, sys, anyio
from hgloc import Config, Localizer
config = Config(models_store_path=sys.argv[1], hf_endpoint=sys.argv[2], offline=False,
    s3_bucket_name=sys.argv[3], s3_endpoint_url=sys.argv[4], aws_access_key_id="testing",
    aws_secret_access_key="testing", s3_data_prefix="team")
async def main():
    async with Localizer(config, concurrency=16) as loc:
        report = await loc.prefetch(sys.argv[5].split(","))
    print(json.dumps(report.as_dict()))
anyio.run(main)
"""


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    repos = [r for r in make_corpus(214, seed=31) if not r.repo_id.startswith("hgloc")]
    emulator = HubEmulator(repos, latency=0.03)
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[PausableProxy]:
    front = PausableProxy(moto.port)
    try:
        yield front
    finally:
        front.close()


def bucket_keys(moto: MotoServer, bucket: str) -> list[str]:
    client = moto.client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


@pytest.mark.slow
async def test_a_stalled_s3_does_not_stall_the_hub_side_and_memory_stays_flat(
    hub: HubEmulator, moto: MotoServer, proxy: PausableProxy, tmp_path: Path, figures: Figures
) -> None:
    ids = list(hub.repos)
    bucket = moto.create_bucket(f"slow-{uuid.uuid4().hex[:10]}")
    root = tmp_path / "store"
    local = root / "by_bucket" / bucket_id(bucket, proxy.url)

    def cached() -> int:
        return len(list(local.rglob(METADATA_FILE))) if local.exists() else 0

    def resolves() -> int:
        return len([r for r in hub.requests if "/resolve/" in r.path])

    hub.reset_requests()
    child = subprocess.Popen(  # noqa: ASYNC220 - quick to start, waited for in a thread
        [PYTHON, "-c", _CHILD, str(root), str(hub.url), bucket, proxy.url, ",".join(ids)],
        env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def observe() -> list[tuple[float, int, int, int, int]]:
            deadline = time.monotonic() + 60
            while cached() < 20:
                assert child.poll() is None, child.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.01)
            proxy.pause()
            samples = []
            start = time.monotonic()
            while (now := time.monotonic()) - start < PAUSE:
                samples.append((now - start, resolves(), cached(), rss_bytes(child.pid), 0))
                time.sleep(0.1)
            objects = len(bucket_keys(moto, bucket))  # straight to moto, not through the proxy
            proxy.resume()
            return [*samples[:-1], (*samples[-1][:4], objects)]

        samples = await anyio.to_thread.run_sync(observe)
        out, err = await anyio.to_thread.run_sync(lambda: child.communicate(timeout=120))
    finally:
        proxy.resume()
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    report = json.loads(out)

    first, last = samples[0], samples[-1]
    # The Hub side kept going while S3 held every byte: every model still missing when
    # it stopped answering was fetched (card and config) and cached before it came back.
    assert last[2] == len(ids), (first, last)
    assert last[1] - first[1] >= 2 * (len(ids) - first[2]) - 2 * 16  # 16 were in flight
    # ... and no byte of it went into memory waiting for S3.
    rss = [s[3] for s in samples]
    assert max(rss) - min(rss) < 32 << 20, (min(rss), max(rss))
    # S3 got nothing from it meanwhile; afterwards, everything.
    assert report["failed"] == 0, [m["error"] for m in report["models"] if m["error"]]
    assert all(m["shared"] for m in report["models"])
    keys = set(bucket_keys(moto, bucket))
    index = json.loads(
        moto.client().get_object(Bucket=bucket, Key="team/private_models_index.json")["Body"].read()
    )
    assert sorted(e["model_id"] for e in index.values()) == sorted(ids)
    for model_id in ids[:20]:
        folder = f"team/models/{model_id.replace('/', '_')}/default_revision"
        for name in source_files(hub, model_id):
            if name in ("model_card.md", "config.json"):
                assert f"{folder}/{name}" in keys
    figures.add("slow S3", "models", len(ids))
    figures.add("slow S3", "S3 paused (s)", PAUSE)
    figures.add(
        "slow S3", "models cached locally before / after the pause", f"{first[2]}/{last[2]}"
    )
    figures.add("slow S3", "Hub requests during the pause", last[1] - first[1])
    figures.add("slow S3", "bucket objects at the end of the pause", last[4])
    figures.add("slow S3", "child RSS growth in the pause (MB)", (max(rss) - min(rss)) / 2**20)
    figures.add("slow S3", "uploaded after the pause", len(ids) - report["failed"])


def _cli(store: Path, hub: HubEmulator, s3: MotoServer, bucket: str, *args: str) -> Any:
    from click.testing import CliRunner

    from hgloc.cli import cli

    env = {
        "HF_ENDPOINT": str(hub.url), "TTY_COMPATIBLE": "0", "TTY_INTERACTIVE": "0",
        "HGLOC_S3_BUCKET_NAME": bucket, "HGLOC_S3_ENDPOINT_URL": s3.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": "testing", "HGLOC_AWS_SECRET_ACCESS_KEY": "testing",
        "HGLOC_S3_DATA_PREFIX": "team", "HGLOC_MAX_RETRIES": "1",
    }  # fmt: skip
    return CliRunner().invoke(cli, ["--store", str(store), *args], env=env, catch_exceptions=False)


def test_a_bucket_that_is_down_is_skipped_and_the_upload_waits_for_sync_all(
    hub: HubEmulator, tmp_path: Path
) -> None:
    """Issue 15, case 9: with S3 unreachable the Hub path still works; nothing is lost."""
    ids = [r.repo_id for r in list(hub.repos.values())[:6]]
    store = tmp_path / "store"
    with MotoServer() as s3:
        bucket = s3.create_bucket(f"down-{uuid.uuid4().hex[:8]}")
        s3.stop()  # S3 unreachable from here on
        started = time.monotonic()
        one = _cli(store, hub, s3, bucket, "download-model", ids[0])
        assert one.exit_code == 0, one.output
        assert "bucket" in one.output and "skipped" in one.output.lower()
        bulk = _cli(store, hub, s3, bucket, "prefetch", *ids[1:4], "--json")
        assert bulk.exit_code == 0, bulk.output
        report = json.loads(bulk.stdout)
        assert [m["status"] for m in report["models"]] == ["fetched"] * 3
        assert all("pending" in " ".join(m["warnings"]) for m in report["models"])
        quiet = _cli(store, hub, s3, bucket, "prefetch", *ids[4:], "--no-s3-upload")
        assert quiet.exit_code == 0, quiet.output
        assert time.monotonic() - started < 60
        s3.start()  # back: the next sync uploads every model the bucket lacks
        sync = _cli(store, hub, s3, bucket, "sync-all-local-models-to-s3", "--json")
        assert sync.exit_code == 0, sync.output
        keys = bucket_keys(s3, bucket)
    for model_id in ids:
        folder = f"team/models/{model_id.replace('/', '_')}/default_revision"
        assert f"{folder}/{METADATA_FILE}" in keys, model_id
    index = [k for k in keys if k.endswith("private_models_index.json")]
    assert index
