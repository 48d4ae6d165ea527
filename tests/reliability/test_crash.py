"""kill -9 in the middle of a prefetch and of a full-model download.

The child is a real process (``python -m hgloc prefetch``, ``python -c``) killed with
SIGKILL once the store shows progress. Meanwhile the test lists the store again and
again with the public API: a listed model must always be complete and right. The
rerun completes and fetches only what was missing, counted from the Hub's records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from hgloc import Config, Localizer, Status, TransferSettings
from hgloc_testing import HubEmulator, MotoServer, make_corpus

from .helpers import (
    PYTHON,
    STAGING,
    Figures,
    big_repo,
    check_listed,
    child_env,
    metadata_files,
    ranged_bytes,
    source_files,
    staged_bytes,
    temp_files,
)

pytestmark = pytest.mark.anyio

BIG = "reliability/big-crash"
BIG_SIZE = 32 << 20
SMALL_FILES = 8
TRANSFER = {
    "part_size": 512 << 10,
    "split_above": 512 << 10,
    "in_memory_max": 64 << 10,
    "connections_per_file": 2,
}


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    repos = [r for r in make_corpus(214, seed=11) if not r.repo_id.startswith("hgloc")]
    assert len(repos) == 200
    # A little latency per request, so the runs last long enough to be killed mid-way.
    emulator = HubEmulator([*repos, big_repo(BIG, BIG_SIZE, small_files=SMALL_FILES, seed=5)])
    with emulator.run_in_thread():
        yield emulator


def corpus_ids(hub: HubEmulator) -> list[str]:
    return [repo_id for repo_id in hub.repos if repo_id != BIG]


def config_for(hub: HubEmulator, root: Path) -> Config:
    return Config(models_store_path=root, hf_endpoint=hub.url, offline=False)


def run_until(
    child: subprocess.Popen[str],
    ready: Callable[[], bool],
    watch: Callable[[], None],
    timeout: float = 60.0,
) -> None:
    """Call ``watch`` until ``ready()``, then kill -9 the child."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert child.poll() is None, f"the child ended before the kill: {child.communicate()}"
            assert time.monotonic() < deadline, "no progress to kill in"
            watch()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL


async def settle(hub: HubEmulator) -> None:
    """Wait for the answers the emulator still owed the dead child, so they are not counted."""
    count = -1
    while count != len(hub.requests):
        count = len(hub.requests)
        await anyio.sleep(0.15)


async def test_kill_9_mid_prefetch_then_the_rerun_fetches_only_what_is_missing(
    hub: HubEmulator, tmp_path: Path, figures: Figures
) -> None:
    ids = corpus_ids(hub)
    root = tmp_path / "store"
    config = config_for(hub, root)
    model_list = tmp_path / "models.txt"
    model_list.write_text("\n".join(ids) + "\n")
    hub.faults.latency = 0.05
    child = subprocess.Popen(  # noqa: ASYNC220 - quick to start, waited for in a thread
        [PYTHON, "-m", "hgloc", "--store", str(root), "--quiet", "prefetch", "-f", str(model_list),
         "--concurrency", "8"],
        env=child_env(HF_ENDPOINT=str(hub.url)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    looks = checked = 0

    def watch() -> None:
        # What a user listing the store at this moment is told it has: complete and right.
        nonlocal looks, checked
        _, compared = check_listed(config, hub)
        looks += 1
        checked += compared

    try:
        await anyio.to_thread.run_sync(
            run_until, child, lambda: len(metadata_files(root)) >= 40, watch
        )
    finally:
        hub.faults.latency = 0.0
    await settle(hub)
    listed, compared = await anyio.to_thread.run_sync(check_listed, config, hub)
    assert 40 <= listed < len(ids)
    leftovers = temp_files(root)
    async with Localizer(config) as loc:
        assert (await loc.verify()).ok
        complete = {m.model_id for m in await loc.list_models()}
        hub.reset_requests()
        report = await loc.prefetch(ids, concurrency=16)
    assert report.ok
    assert {r.model_id for r in report.skipped} == complete
    assert {r.model_id for r in report.fetched} == set(ids) - complete
    resolved = [r.path.partition("/resolve/")[0].lstrip("/") for r in hub.requests]
    assert set(resolved) == set(ids) - complete  # not one request for a complete model
    assert len(resolved) == 2 * (len(ids) - len(complete))  # card and config, once each
    listed, compared = await anyio.to_thread.run_sync(check_listed, config, hub)
    assert listed == len(ids)
    figures.add("kill -9 mid prefetch", "models", len(ids))
    figures.add("kill -9 mid prefetch", "complete at kill", len(complete))
    figures.add("kill -9 mid prefetch", "store listings checked during the run", looks)
    figures.add("kill -9 mid prefetch", "bytes compared in those listings", checked)
    figures.add("kill -9 mid prefetch", "incomplete models listed", 0)
    figures.add("kill -9 mid prefetch", "rerun requests for complete models", 0)
    figures.add("kill -9 mid prefetch", "rerun requests", len(hub.requests))
    figures.add("kill -9 mid prefetch", "temp files left by the kill (hidden)", len(leftovers))
    figures.add("kill -9 mid prefetch", "bytes equal to source after rerun", compared)


_FULL_CHILD = """
import sys, anyio
from hgloc import Config, Localizer
from hgloc import TransferSettings
config = Config(models_store_path=sys.argv[1], hf_endpoint=sys.argv[2], offline=False)
async def main():
    async with Localizer(config, transfer=TransferSettings(**{transfer})) as loc:
        await loc.download(sys.argv[3], metadata_only=False)
anyio.run(main)
"""


async def test_kill_9_mid_full_model_then_the_rerun_fetches_only_the_missing_bytes(
    hub: HubEmulator, tmp_path: Path, figures: Figures
) -> None:
    root = tmp_path / "store"
    config = config_for(hub, root)
    hub.faults.latency = 0.03
    hub.reset_requests()
    child = subprocess.Popen(  # noqa: ASYNC220 - quick to start, waited for in a thread
        [PYTHON, "-c", _FULL_CHILD.format(transfer=TRANSFER), str(root), str(hub.url), BIG],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    looks = 0

    def watch() -> None:
        nonlocal looks
        listed, _ = check_listed(config, hub)
        assert listed == 0  # the model is not listed until every byte is in
        looks += 1

    try:
        await anyio.to_thread.run_sync(
            run_until, child, lambda: staged_bytes(root / STAGING) >= BIG_SIZE // 8, watch
        )
    finally:
        hub.faults.latency = 0.0
    await settle(hub)
    first_run_bytes = ranged_bytes(hub, BIG_SIZE)
    staged = staged_bytes(root / STAGING)
    assert BIG_SIZE // 8 <= staged < BIG_SIZE
    journaled = {
        json.loads(line)["name"]
        for journal in (root / STAGING).rglob("journal.jsonl")
        for line in journal.read_text().splitlines()
    }
    async with Localizer(config, transfer=TransferSettings(**TRANSFER)) as loc:
        assert await loc.list_models() == []
        hub.reset_requests()
        result = await loc.download(BIG, metadata_only=False)
        assert result.status is Status.FETCHED
        assert (await loc.verify()).ok
    source = source_files(hub, BIG)
    folder = root / "reliability_big-crash" / "default_revision"
    assert {name: (folder / name).read_bytes() for name in source} == source
    # Bytes fetched again: exactly those the staging area did not hold.
    refetched = ranged_bytes(hub, BIG_SIZE)
    assert refetched == BIG_SIZE - staged
    small = [
        r.path.rpartition("/resolve/")[2].partition("/")[2]
        for r in hub.requests
        if "/resolve/" in r.path and not r.path.endswith(".safetensors")
    ]
    names = {"README.md" if n == "model_card.md" else n for n in source} - {"model.safetensors"}
    kept = {"README.md" if n == "model_card.md" else n for n in journaled}
    assert sorted(small) == sorted(names - kept)
    assert not (root / STAGING).exists() and temp_files(root) == []
    figures.add("kill -9 mid full model", "file bytes", BIG_SIZE)
    figures.add("kill -9 mid full model", "bytes fetched before the kill", first_run_bytes)
    figures.add("kill -9 mid full model", "bytes staged at kill", staged)
    figures.add("kill -9 mid full model", "bytes fetched again", refetched)
    figures.add("kill -9 mid full model", "small files kept", len(kept))
    figures.add("kill -9 mid full model", "small files fetched again", len(small))
    figures.add("kill -9 mid full model", "store listings checked during the run", looks)


_SHARING_CHILD = """
import sys
from hgloc import Config
from hgloc.sync import prefetch
config = Config(models_store_path=sys.argv[1], hf_endpoint=sys.argv[2], offline=False,
    s3_bucket_name=sys.argv[3], s3_endpoint_url=sys.argv[4], aws_access_key_id="testing",
    aws_secret_access_key="testing", s3_data_prefix="team")
prefetch(sys.argv[5].split(","), concurrency=8, config=config)
"""


async def test_kill_9_mid_prefetch_with_upload_then_the_rerun_completes_the_bucket(
    hub: HubEmulator, moto: MotoServer, tmp_path: Path, figures: Figures
) -> None:
    ids = corpus_ids(hub)[:120]
    bucket = moto.create_bucket(f"crash-{uuid.uuid4().hex[:10]}")
    root = tmp_path / "store"
    config = Config(
        models_store_path=root, hf_endpoint=hub.url, offline=False, s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url, aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key, s3_data_prefix="team",
    )  # fmt: skip
    hub.faults.latency = 0.02
    child = subprocess.Popen(  # noqa: ASYNC220 - quick to start, waited for in a thread
        [PYTHON, "-c", _SHARING_CHILD, str(root), str(hub.url), bucket, moto.endpoint_url,
         ",".join(ids)],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        await anyio.to_thread.run_sync(
            run_until, child, lambda: len(metadata_files(root)) >= 30, lambda: time.sleep(0.01)
        )
    finally:
        hub.faults.latency = 0.0
    await settle(hub)
    async with Localizer(config) as loc:
        complete = {m.model_id for m in await loc.list_models()}
        indexed_at_kill = {e.model_id for e in await loc.list_bucket_models()}
        hub.reset_requests()
        report = await loc.prefetch(ids)
        assert report.ok, [r.error for r in report.failed]
        assert (await loc.verify(bucket=True)).ok
        indexed = {e.model_id for e in await loc.list_bucket_models()}
    assert indexed == set(ids)  # models cached before the kill were shared by the rerun
    resolved = {r.path.partition("/resolve/")[0].lstrip("/") for r in hub.requests}
    assert resolved == set(ids) - complete
    client = moto.client()
    for model_id in ids:
        folder = f"team/models/{model_id.replace('/', '_')}/default_revision"
        for name, data in source_files(hub, model_id).items():
            if name in ("model_card.md", "config.json"):
                body = client.get_object(Bucket=bucket, Key=f"{folder}/{name}")["Body"].read()
                assert body == data
    figures.add("kill -9 mid prefetch with upload", "models", len(ids))
    figures.add("kill -9 mid prefetch with upload", "cached / indexed at kill",
                f"{len(complete)}/{len(indexed_at_kill)}")  # fmt: skip
    figures.add("kill -9 mid prefetch with upload", "indexed after rerun", len(indexed))
