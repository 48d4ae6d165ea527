"""Issue 15, case 2: a file list that announces an absurd size.

``2**47`` bytes made the planner build millions of parts (MemoryError); ``2**40``
left a 1 TiB sparse staging file. Sizes are checked against
``TransferSettings.max_file_size`` and the free space of the disks before anything
is staged or fetched; that model fails cleanly, the others go on.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from hgloc import Config, Localizer, Status, TransferSettings
from hgloc.errors import ResponseTooLargeError
from hgloc.transfer import NotEnoughSpaceError
from hgloc_testing import Faults, HubEmulator, Repo

from .helpers import FAST_RETRY, store_files

pytestmark = pytest.mark.anyio

WEIGHTS = "model.safetensors"


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    def repo(repo_id: str) -> Repo:
        files = {"README.md": b"# m\n", "config.json": b"{}", WEIGHTS: b"w" * 300_000}
        return Repo(repo_id, [files])

    emulator = HubEmulator([repo("evil/huge"), repo("ok/normal")])
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def announce(hub: HubEmulator) -> Iterator[Faults]:
    faults = Faults()
    hub.faults = faults
    yield faults
    hub.faults = Faults()


def config_for(hub: HubEmulator, root: Path) -> Config:
    return Config(models_store_path=root, hf_endpoint=hub.url, offline=False)


SMALL_PARTS = TransferSettings(in_memory_max=64 << 10, split_above=128 << 10, part_size=64 << 10)


@pytest.mark.parametrize("size", [2**40, 2**47])
async def test_an_absurd_size_fails_that_model_before_anything_is_staged(
    hub: HubEmulator, announce: Faults, tmp_path: Path, size: int
) -> None:
    root = tmp_path / "store"
    announce.announced_sizes = {f"evil/huge/{WEIGHTS}": size}
    tracemalloc.start()
    try:
        async with Localizer(config_for(hub, root), retry=FAST_RETRY, transfer=SMALL_PARTS) as loc:
            hub.reset_requests()
            with pytest.raises(ResponseTooLargeError, match="max_file_size"):
                await loc.download("evil/huge", metadata_only=False)
            report = await loc.prefetch(["evil/huge", "ok/normal"], metadata_only=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak >> 20} MiB"
    [failed] = report.failed
    assert failed.model_id == "evil/huge" and "max_file_size" in (failed.error or "")
    assert [r.status for r in report.results] == [Status.FAILED, Status.FETCHED]
    # Nothing staged, no sparse file, no byte of it asked for.
    assert not [k for k in store_files(root) if "evil_huge" in k]
    assert not [r for r in hub.requests if WEIGHTS in r.path and "evil" in r.path]
    assert all(p.stat().st_size < 1 << 20 for p in root.rglob("*") if p.is_file())


async def test_more_than_the_disk_has_free_fails_that_model_before_anything_is_staged(
    hub: HubEmulator, announce: Faults, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    announce.announced_sizes = {f"evil/huge/{WEIGHTS}": 2**56}  # 64 PiB: no disk has it free
    transfer = TransferSettings(max_file_size=2**60, in_memory_max=64 << 10)
    async with Localizer(config_for(hub, root), retry=FAST_RETRY, transfer=transfer) as loc:
        with pytest.raises(NotEnoughSpaceError, match="free"):
            await loc.download("evil/huge", metadata_only=False)
        report = await loc.prefetch(["evil/huge", "ok/normal"], metadata_only=False)
    assert [r.status for r in report.results] == [Status.FAILED, Status.FETCHED]
    assert report.results[0].error_type == "NotEnoughSpaceError"
    assert not [k for k in store_files(root) if "evil_huge" in k]
