"""Header counts fetched through hgloc's own Hub client: HF_ENDPOINT, the token (Hub host
only), retries, and a file shorter than the first range read in one request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from hgloc import Config, Localizer
from hgloc.facts import api
from hgloc.facts.hub_params import FIRST_RANGE
from hgloc.sources import Backoff, RetryPolicy
from hgloc_testing import Faults, Grant, HubEmulator, Repo

from . import models

pytestmark = pytest.mark.anyio

TOKEN = "hf_factsHeaderTest0123456789"
TINY = "acme/tiny-private"  # one small file: the whole of it is shorter than the first range
TINY_WEIGHTS = save({"w": np.zeros((3, 5), dtype=np.float16), "b": np.zeros(7, dtype=np.int8)})


@pytest.fixture(scope="module")
def private_hub() -> Iterator[HubEmulator]:
    files = {
        "README.md": b"# tiny\n",
        "config.json": b'{"model_type": "llama", "hidden_size": 8}',
        "model.safetensors": TINY_WEIGHTS,
    }
    emulator = HubEmulator([Repo(TINY, [files], private=True)], tokens={TOKEN: Grant(repos={TINY})})
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub(private_hub: HubEmulator) -> Iterator[HubEmulator]:
    private_hub.reset_requests()
    yield private_hub
    private_hub.faults = Faults()


def _config(hub: HubEmulator, tmp_path: Path) -> Config:
    assert hub.url
    return Config(
        models_store_path=tmp_path / "store", hf_endpoint=hub.url, hf_token=TOKEN, offline=False
    )


async def test_token_to_the_hub_only_and_one_range_for_a_short_file(
    hub: HubEmulator, tmp_path: Path
) -> None:
    assert len(TINY_WEIGHTS) < FIRST_RANGE
    async with Localizer(_config(hub, tmp_path)) as loc:
        assert (await loc.download(TINY)).ok
        hub.reset_requests()
        (result,) = await api.fetch_parameters([TINY], localizer=loc)
    assert result.fetched and result.parameters == 3 * 5 + 7
    on_hub = [r for r in hub.requests if not r.is_cdn]
    assert on_hub and all(r.authorization == f"Bearer {TOKEN}" for r in on_hub)
    assert not [r for r in hub.requests if r.is_cdn and r.has_auth]
    weights = [r for r in hub.requests if r.path.endswith("model.safetensors")]
    assert weights and {r.headers.get("range") for r in weights} == {f"bytes=0-{FIRST_RANGE - 1}"}


async def test_failed_requests_are_retried(hub: HubEmulator, tmp_path: Path) -> None:
    fast = RetryPolicy(max_retries=12, backoff=Backoff(base=0.01, cap=0.02))
    async with Localizer(_config(hub, tmp_path), retry=fast) as loc:
        assert (await loc.download(TINY)).ok
        hub.reset_requests()
        hub.faults = Faults(rate_limit_every=3, retry_after=0)  # the first CDN answer: 429
        (result,) = await api.fetch_parameters([TINY], localizer=loc)
    assert result.parameters == 3 * 5 + 7
    assert [r.status for r in hub.requests if r.is_cdn] == [429, 206]


def test_models_module_keeps_its_repos_public() -> None:
    # the other facts tests' emulator needs no token
    assert not any(repo.private for repo in models.repos())
