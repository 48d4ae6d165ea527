"""The Hub client against hostile and unlucky Hubs (issue 15: cases 1, 4, 5, 8, 10, 11).

Each test goes through the public API (``Localizer``) against the emulator,
whose fault knobs serve the hostile answer.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hgloc import Config, Localizer, Status, TransferSettings
from hgloc.errors import (
    HubError,
    HubUnavailableError,
    InvalidModelIdError,
    ResponseTooLargeError,
)
from hgloc.layout import METADATA_FILE
from hgloc.sources import Backoff, RetryPolicy, git_blob_sha1
from hgloc.sources._http import make_client
from hgloc_testing import Faults, HubEmulator, Repo, run_asgi_in_thread

pytestmark = pytest.mark.anyio

KiB, MiB = 1 << 10, 1 << 20
FAST_RETRY = RetryPolicy(max_retries=2, backoff=Backoff(base=0.01, cap=0.02))
SMALL = TransferSettings(
    part_size=128 * KiB,
    split_above=256 * KiB,
    in_memory_max=16 * KiB,
    buffer_size=32 * KiB,
    progress_interval=0.0,
)
CONFIG = b'{"model_type": "bert"}'


def repo(repo_id: str, **files: bytes) -> Repo:
    return Repo(repo_id, [{"README.md": f"# {repo_id}\n".encode(), "config.json": CONFIG, **files}])


@pytest.fixture(scope="module")
def module_hub() -> Iterator[HubEmulator]:
    repos = [repo(f"hostile/m{i}") for i in range(4)]
    repos.append(repo("hostile/lfs", **{"model.safetensors": bytes(300 * KiB)}))
    repos.append(repo("hostile/slow", **{"weights.bin": bytes(40 * KiB)}))
    emulator = HubEmulator(repos)
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub(module_hub: HubEmulator) -> HubEmulator:
    module_hub.faults = Faults()
    module_hub.reset_requests()
    return module_hub


def make_config(endpoint: str | None, tmp_path: Path, **kw: Any) -> Config:
    return Config(models_store_path=tmp_path / "store", hf_endpoint=endpoint, offline=False, **kw)


@pytest.fixture
async def loc(hub: HubEmulator, tmp_path: Path) -> AsyncIterator[Localizer]:
    async with Localizer(
        make_config(hub.url, tmp_path), retry=FAST_RETRY, transfer=SMALL
    ) as localizer:
        yield localizer


# -- 1: a hostile redirect Location or tree Link is that model's HubError, not a ValueError ------


@pytest.mark.parametrize(
    "bad",
    ["http://127.0.0.1:99999/x", "http://127.0.0.1:+80/x", "http://[::1/x", "http://[zz::1]/x"],
)
async def test_a_hostile_location_is_a_hub_error(
    loc: Localizer, hub: HubEmulator, bad: str
) -> None:
    hub.faults.bad_location = bad
    with pytest.raises(HubError, match="not a usable URL"):
        await loc.download("hostile/lfs", metadata_only=False)


@pytest.mark.parametrize("bad", ["http://127.0.0.1:99999/next", "http://[::1/next"])
async def test_a_hostile_tree_link_is_a_hub_error(
    loc: Localizer, hub: HubEmulator, bad: str
) -> None:
    hub.faults.bad_link = bad
    with pytest.raises(HubError, match="not a usable URL"):
        await loc.download("hostile/m0", metadata_only=False)


# -- 4: a gzip bomb is capped while it is decoded -----------------------------------------------


async def test_a_compressed_answer_is_decoded_and_verified(
    loc: Localizer, hub: HubEmulator
) -> None:
    # A proxy that compresses although hgloc asked for identity: decoded, then checked.
    hub.faults.gzip_paths = frozenset({"hostile/m1/config.json"})
    assert await loc.hub_config("hostile/m1") == json.loads(CONFIG)
    assert any(r.fault == "gzip" for r in hub.requests)


async def test_a_gzip_bomb_from_the_hub_is_refused_within_the_cap(
    hub: HubEmulator, tmp_path: Path
) -> None:
    # 80 MB of JSON, 80 KB on the wire; a config is capped at 16 MiB, counted as it is
    # decompressed. (The emulator compresses in this process, so memory is measured in
    # the next test.)
    bomb = b"{" + b" " * (80 * MiB) + b"}"
    hub.add_repo(repo("hostile/bomb", **{"config.json": bomb}))
    hub.faults.gzip_paths = frozenset({"hostile/bomb/config.json"})
    async with Localizer(make_config(hub.url, tmp_path), retry=FAST_RETRY) as loc:
        with pytest.raises(HubError, match="larger than 16 MiB") as caught:
            await loc.hub_config("hostile/bomb")
    cause = caught.value.__cause__
    assert isinstance(cause, ResponseTooLargeError) and "decompressed" in str(cause)


async def test_every_whole_body_read_caps_the_decoded_bytes() -> None:
    """What the bucket's public manifest reader uses: the cap holds for gzip bodies."""
    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-encoding", b"gzip"), (b"content-length", b"%d" % len(bomb))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": bomb})

    with run_asgi_in_thread(app, name="gzip-bomb") as url:
        client = make_client(connections=1, timeout=10)
        try:
            tracemalloc.start()
            with pytest.raises(ResponseTooLargeError):
                await client.get(f"{url}/public_models.json", max_bytes=1 * MiB)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await client.aclose()
    assert peak < 8 * MiB, f"peak {peak / MiB:.0f} MB for a 1 MB cap"


# -- 5: an overall deadline per small request, a minimum rate per big transfer ------------------


async def test_request_timeout_is_the_deadline_of_a_whole_small_answer(
    hub: HubEmulator, tmp_path: Path
) -> None:
    hub.faults.drip_paths = frozenset({"hostile/m2/config.json"})
    hub.faults.drip_interval = 0.3  # each read well within the timeout, the whole far beyond
    config = make_config(hub.url, tmp_path, request_timeout=1.0)
    async with Localizer(
        config, retry=RetryPolicy(max_retries=1, backoff=Backoff(0.01, 0.01))
    ) as loc:
        started = time.monotonic()
        with pytest.raises(HubUnavailableError, match="request_timeout"):
            await loc.hub_config("hostile/m2")
        took = time.monotonic() - started
    assert took < 5, f"{took:.1f} s for two attempts of 1 s"


async def test_a_stalled_model_fails_clearly_and_the_rest_of_the_prefetch_goes_on(
    hub: HubEmulator, tmp_path: Path
) -> None:
    hub.faults.drip_paths = frozenset({"hostile/slow/weights.bin"})
    hub.faults.drip_interval = 0.05  # 20 bytes/s: 40 KB would take half an hour
    config = make_config(hub.url, tmp_path, min_transfer_rate=4096, transfer_rate_window=0.5)
    assert Config.from_env({"HGLOC_MIN_TRANSFER_RATE": "4096"}).min_transfer_rate == 4096
    assert Config.from_env({"HGLOC_REQUEST_TIMEOUT": "5"}).request_timeout == 5
    async with Localizer(config, retry=FAST_RETRY, transfer=SMALL) as loc:
        started = time.monotonic()
        report = await loc.prefetch(
            ["hostile/slow", "hostile/m3", "hostile/lfs"], metadata_only=False
        )
        took = time.monotonic() - started
    by_id = {r.model_id: r for r in report.results}
    assert by_id["hostile/m3"].ok and by_id["hostile/lfs"].ok
    failed = by_id["hostile/slow"]
    assert failed.status is Status.FAILED
    assert failed.error is not None and "min_transfer_rate" in failed.error
    assert took < 10, f"the stalled model held the run for {took:.1f} s"


# -- 8: no ETag still records a hash ------------------------------------------------------------


async def test_a_file_without_etag_gets_the_hash_of_the_bytes_received(
    loc: Localizer, hub: HubEmulator, tmp_path: Path
) -> None:
    hub.faults.no_etag_paths = frozenset({"hostile/m0/config.json"})
    result = await loc.download("hostile/m0")
    assert result.status is Status.FETCHED
    meta_path = tmp_path / "store" / "hostile_m0" / "default_revision" / METADATA_FILE
    meta = json.loads(meta_path.read_text())
    assert meta["files"]["config.json"]["git_sha1"] == git_blob_sha1(CONFIG)
    assert meta["hashes_source"] == "received"  # marked: not the Hub's word, the bytes' own
    # ... so tampering with the stored copy is visible to verify.
    config_path = meta_path.parent / "config.json"
    config_path.write_bytes(config_path.read_bytes().replace(b"{", b"[", 1))
    report = await loc.verify(["hostile/m0"])
    assert report.damaged


# -- 10: no network, or a wrong endpoint, fails fast --------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("endpoint", ["refused", "http://nonexistent.invalid"])
async def test_an_unreachable_hub_fails_fast_with_a_hint(endpoint: str, tmp_path: Path) -> None:
    if endpoint == "refused":
        endpoint = f"http://127.0.0.1:{closed_port()}"
    slow_retry = RetryPolicy(max_retries=6, backoff=Backoff(base=1.0, cap=4.0))  # ~20 s if retried
    async with Localizer(make_config(endpoint, tmp_path), retry=slow_retry) as loc:
        started = time.monotonic()
        with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE=1") as caught:
            await loc.hub_card("gpt2")
        took = time.monotonic() - started
    assert "HF_ENDPOINT" in str(caught.value)
    assert took < 3, f"{took:.1f} s to give up on {endpoint}"


# -- 11: the commit the Hub names, and ids with a newline ----------------------------------------


async def test_an_x_repo_commit_that_is_not_40_hex_is_refused(
    loc: Localizer, hub: HubEmulator, tmp_path: Path
) -> None:
    hub.faults.bad_commit = "../../etc\nX-Evil: 1"[:9]
    with pytest.raises(HubError, match="X-Repo-Commit"):
        await loc.download("hostile/m1", revision="main")
    assert not (tmp_path / "store" / "hostile_m1").exists()


async def test_an_id_with_a_trailing_newline_is_an_invalid_id(
    loc: Localizer, hub: HubEmulator
) -> None:
    with pytest.raises(InvalidModelIdError):
        await loc.hub_card("hostile/m0\n")
    assert hub.requests == []
