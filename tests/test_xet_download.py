"""hgloc's full-model downloads against the Hub in Xet mode (issue 14): expiring CDN links."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hgloc import Config, Localizer, Status, TransferSettings
from hgloc.sources import Backoff, RetryPolicy
from hgloc_testing import HubEmulator, Repo, RequestRecord, XetMode

pytestmark = pytest.mark.anyio

KiB = 1 << 10
FAST_RETRY = RetryPolicy(max_retries=4, backoff=Backoff(base=0.01, cap=0.05))
SETTINGS = TransferSettings(
    part_size=128 * KiB,
    split_above=256 * KiB,
    in_memory_max=64 * KiB,
    buffer_size=32 * KiB,
    connections_per_file=2,
    progress_interval=0.0,
)
SIZE = 2048 * KiB
WEIGHTS = random.Random(14).randbytes(SIZE)
REPO = "hgloc-test/xet"


@pytest.fixture
def hub() -> Iterator[HubEmulator]:
    repo = Repo(REPO, [{"README.md": b"# xet\n", "model.safetensors": WEIGHTS}])
    # 2 connections at 1 MB/s each: the 2 MB file takes about a second, time to expire a link.
    emulator = HubEmulator([repo], xet=XetMode(bandwidth=1 << 20))
    with emulator.run_in_thread():
        yield emulator


def config(hub: HubEmulator, tmp_path: Path) -> Config:
    return Config(models_store_path=tmp_path / "store", hf_endpoint=hub.url, offline=False)


def sent(record: RequestRecord) -> tuple[int, int]:
    """The byte span ``[start, end)`` a CDN answer carried."""
    rng = record.headers.get("range")
    if rng is None:
        return 0, SIZE
    first, _, last = rng.removeprefix("bytes=").partition("-")
    return int(first), int(last) + 1 if last else SIZE


async def test_a_link_that_expires_midway_is_resolved_again_and_nothing_is_fetched_twice(
    hub: HubEmulator, tmp_path: Path
) -> None:
    xet = hub.app.xet
    assert xet is not None
    cfg = config(hub, tmp_path)

    def age_links(path: str, done: int, total: int) -> None:
        # Halfway, every link handed out so far is past its X-Amz-Expires.
        if path == "" and done >= total // 2 and xet.clock is time.time:
            xet.clock = lambda: time.time() + 2 * xet.link_ttl

    async with Localizer(cfg, retry=FAST_RETRY, transfer=SETTINGS) as loc:
        result = await loc.download(REPO, metadata_only=False, on_bytes=age_links)
    assert result.status is Status.FETCHED
    where = cfg.store_path / "hgloc-test_xet" / "default_revision"
    assert (where / "model.safetensors").read_bytes() == WEIGHTS
    assert xet.expired_requests >= 1, "the link should have expired midway"
    resolves = [r for r in hub.requests if "/resolve/" in r.path and "model.safetensors" in r.path]
    assert len(resolves) >= 2, "an expired link must be resolved again"
    served = sorted(sent(r) for r in hub.requests if r.is_cdn and r.status in (200, 206))
    assert sum(end - start for start, end in served) == SIZE, "bytes were fetched twice"
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(served))
    # Nothing stores a signed URL.
    for path in cfg.store_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"X-Amz-Signature" not in data and xet.prefix.encode() not in data
