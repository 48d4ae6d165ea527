"""Issue 15, case 11 (core part): .git paths, kill -9 temp files, huge configs and indexes."""

from __future__ import annotations

import json
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hgloc import Config, Localizer, Status
from hgloc.errors import HubError, IndexCorruptError, InvalidKeyError
from hgloc.layout import METADATA_FILE
from hgloc_testing import HubEmulator, MotoServer, Repo

from .helpers import FAST_RETRY, TMP_PREFIX, store_files, temp_files

pytestmark = pytest.mark.anyio

HUGE_CONFIG = b"[" + b"{}," * (7 << 20) + b"{}]"  # 21 MiB of '[{},...]'


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    card = b"# model\n"
    repos = [
        Repo("evil/git-hooks", [{
            "README.md": card, "config.json": b"{}",
            ".git/hooks/post-checkout": b"#!/bin/sh\necho owned\n",
        }]),
        Repo("evil/huge-config", [{"README.md": card, "config.json": HUGE_CONFIG}]),
        Repo("ok/full", [{
            "README.md": card, "config.json": b'{"a": 1}', "sub/w.bin": b"w" * 5000,
            ".gitattributes": b"*.bin filter=lfs\n",
        }]),
        Repo("ok/small", [{"README.md": card, "config.json": b'{"a": 2}'}]),
    ]  # fmt: skip
    emulator = HubEmulator(repos)
    with emulator.run_in_thread():
        yield emulator


def config_for(hub: HubEmulator, root: Path, **extra: Any) -> Config:
    return Config(models_store_path=root, hf_endpoint=hub.url, offline=False, **extra)


async def test_a_repo_file_under_dot_git_is_never_stored(hub: HubEmulator, tmp_path: Path) -> None:
    root = tmp_path / "store"
    async with Localizer(config_for(hub, root), retry=FAST_RETRY) as loc:
        with pytest.raises(InvalidKeyError, match=r"\.git"):
            await loc.download("evil/git-hooks", metadata_only=False)
        report = await loc.prefetch(["evil/git-hooks", "ok/full"], metadata_only=False)
    assert [r.model_id for r in report.failed] == ["evil/git-hooks"]
    assert not [k for k in store_files(root) if "/.git/" in f"/{k}"]
    # '.gitattributes' is an ordinary file of real repos: kept.
    assert (root / "ok_full" / "default_revision" / ".gitattributes").is_file()


@pytest.mark.parametrize("full", [False, True])
async def test_temp_files_a_kill_left_are_removed_when_the_folder_is_written_again(
    hub: HubEmulator, tmp_path: Path, full: bool
) -> None:
    root = tmp_path / "store"
    model_id = "ok/full" if full else "ok/small"
    folder = root / model_id.replace("/", "_") / "default_revision"
    async with Localizer(config_for(hub, root), retry=FAST_RETRY) as loc:
        await loc.download(model_id, metadata_only=not full)
    # What kill -9 between a temp file's write and its rename leaves, in the folder and below.
    (folder / METADATA_FILE).unlink()
    leftovers = [folder / f"{TMP_PREFIX}0123456789abcdef"]
    if full:
        leftovers.append(folder / "sub" / f"{TMP_PREFIX}fedcba9876543210")
    for path in leftovers:
        path.write_bytes(b"half a file")
    assert temp_files(root)
    async with Localizer(config_for(hub, root), retry=FAST_RETRY) as loc:
        result = await loc.download(model_id, metadata_only=not full)
    assert result.status is Status.FETCHED
    assert temp_files(root) == []


async def test_a_huge_config_is_refused_before_it_is_parsed(
    hub: HubEmulator, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    tracemalloc.start()
    try:
        async with Localizer(config_for(hub, root), retry=FAST_RETRY) as loc:
            with pytest.raises(HubError, match="larger than 16 MiB"):
                await loc.download("evil/huge-config")
            with pytest.raises(HubError, match="larger than 16 MiB"):
                await loc.hub_config("evil/huge-config")
            report = await loc.prefetch(["evil/huge-config", "ok/small"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.model_id for r in report.failed] == ["evil/huge-config"]
    assert "larger than 16 MiB" in (report.failed[0].error or "")
    # Parsing it would take ~0.5 GB; refusing it costs the capped body and little more.
    assert peak < 200 << 20, f"peak {peak >> 20} MiB"
    assert not (root / "evil_huge-config").exists() or not list(
        (root / "evil_huge-config").rglob("config.json")
    )


async def test_a_huge_bucket_index_is_refused_not_read_whole(
    hub: HubEmulator, moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hgloc.bucket._tier as tier_module

    monkeypatch.setattr(tier_module, "MAX_INDEX_BYTES", 1 << 20, raising=False)  # at 1 MiB
    bucket = moto.create_bucket(f"huge-{uuid.uuid4().hex[:10]}")
    entries = {
        f"org/m{i}---default_revision": {"model_id": f"org/m{i}", "pad": "x" * 300}
        for i in range(8000)
    }  # ~3 MiB
    moto.client().put_object(
        Bucket=bucket, Key="team/private_models_index.json", Body=json.dumps(entries).encode()
    )
    config = config_for(
        hub,
        tmp_path / "store",
        s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url,
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
        s3_data_prefix="team",
    )
    async with Localizer(config, retry=FAST_RETRY) as loc:
        with pytest.raises(IndexCorruptError, match="larger than 1 MiB"):
            await loc.list_bucket_models()
        # Updating it is refused too (it is never read whole, nor overwritten).
        result = await loc.download("ok/small")
    assert result.status is Status.FAILED and "larger than 1 MiB" in (result.error or "")
    body = moto.client().get_object(Bucket=bucket, Key="team/private_models_index.json")
    assert len(body["Body"].read()) > 1 << 20
