"""Fixtures for the facts tests: an emulator with the repos of models.py, stores, a localizer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hgloc import Config, Localizer
from hgloc.backends import LocalBackend, MemoryBackend, StorageBackend
from hgloc_testing import HubEmulator

from . import models


@pytest.fixture(scope="module")
def facts_hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator(models.repos())
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub(facts_hub: HubEmulator) -> HubEmulator:
    facts_hub.reset_requests()
    return facts_hub


@pytest.fixture
def config(hub: HubEmulator, tmp_path: Path) -> Config:
    assert hub.url
    return Config(models_store_path=tmp_path / "store", hf_endpoint=hub.url, offline=False)


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StorageBackend:
    if request.param == "local":
        return LocalBackend(tmp_path / "store")
    return MemoryBackend()


@pytest.fixture
async def loc(config: Config, store: StorageBackend) -> AsyncIterator[Localizer]:
    async with Localizer(config, backend=store) as localizer:
        yield localizer


async def fill(loc: Localizer) -> None:
    """The store of every test: one full model, the others metadata only."""
    result = await loc.download(models.LLAMA_FULL, metadata_only=False)
    assert result.ok, result.error
    for model_id in (models.MIXTRAL_SHARDED, models.GPT2, models.T5, models.CLIP, models.FALCON,
                     models.NO_WEIGHTS):  # fmt: skip
        result = await loc.download(model_id)
        assert result.ok, result.error
