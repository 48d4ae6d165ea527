"""The store-time hook: a model fetched into the store is in the facts index at once."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import attrs
import pytest

from hgloc import Config, Localizer, ModelRequest
from hgloc.backends import MemoryBackend
from hgloc.facts import _store, api
from hgloc.facts.index import INDEX_FILE_NAME, FactsIndex, IndexRow
from hgloc_testing import HubEmulator

from . import models
from .test_api import LLAMA_PARAMS, MIXTRAL_PARAMS

pytestmark = pytest.mark.anyio


async def _indexed(config: Config, model_id: str) -> IndexRow | None:
    """The index row as the hook left it, read without a refresh of the index."""
    index = FactsIndex(config.store_path / INDEX_FILE_NAME)
    try:
        return await index.find([""], model_id, None)
    finally:
        await index.aclose()


async def test_stored_models_are_indexed_at_once(config: Config, hub: HubEmulator) -> None:
    async with Localizer(config) as loc:
        assert (await api.query("layers > 0", localizer=loc)).matches == ()  # builds the index
        assert (await loc.download(models.LLAMA_FULL, metadata_only=False)).ok
        assert (await loc.download(models.CLIP)).ok
    llama = await _indexed(config, models.LLAMA_FULL)
    assert llama is not None and llama.facts["parameters"] == sum(LLAMA_PARAMS.values())
    clip = await _indexed(config, models.CLIP)
    assert clip is not None and clip.facts["text_config.hidden_size"] == 512
    assert "parameters" not in clip.facts  # metadata only, not asked: unknown, not guessed
    # nothing fetched more of the metadata-only model than its card and config
    clip_files = {r.path.rsplit("/", 1)[-1] for r in hub.requests if models.CLIP in r.path}
    assert clip_files <= {"README.md", "config.json", models.CLIP.split("/")[1]}


async def test_with_parameters_counts_a_metadata_only_model(
    config: Config, hub: HubEmulator
) -> None:
    async with Localizer(config) as loc:
        await api.rebuild_index(localizer=loc)  # an index in the store: kept current from now on
        request = ModelRequest(model_id=models.MIXTRAL_SHARDED, with_parameters=True)
        assert (await loc.get(request)).ok
        sidecar = f"{loc.model_prefix(models.MIXTRAL_SHARDED)}/{_store.SAFETENSORS_FILE}"
        assert await loc.backend.exists(sidecar)
    row = await _indexed(config, models.MIXTRAL_SHARDED)
    assert row is not None and row.facts["parameters"] == sum(MIXTRAL_PARAMS.values())
    assert all("range" in r.headers for r in hub.requests if r.path.endswith(".safetensors"))


async def test_the_config_turns_it_on_for_a_bulk_prefetch(config: Config) -> None:
    counting = attrs.evolve(config, fetch_parameters=True)
    assert Config.from_env({"HGLOC_FETCH_PARAMETERS": "1"}).fetch_parameters
    async with Localizer(counting) as loc:
        await api.rebuild_index(localizer=loc)
        report = await loc.prefetch([models.MIXTRAL_SHARDED, models.GPT2])
    assert report.failed == []
    row = await _indexed(config, models.MIXTRAL_SHARDED)
    assert row is not None and row.facts["parameters"] == sum(MIXTRAL_PARAMS.values())


async def test_a_facts_failure_never_fails_the_download(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    async with Localizer(config) as loc:
        await api.rebuild_index(localizer=loc)
        monkeypatch.setattr(FactsIndex, "apply", broken)
        with caplog.at_level(logging.WARNING, logger="hgloc"):
            result = await loc.download(models.GPT2)
    assert result.ok
    assert "facts of acme/gpt2-small not indexed: disk I/O error" in caplog.text


async def test_a_store_never_queried_gets_no_index_file(config: Config) -> None:
    async with Localizer(config) as loc:
        assert (await loc.download(models.GPT2)).ok
    assert not (config.store_path / INDEX_FILE_NAME).exists()
    # the first query builds it from the folders
    result = await api.query(f'model_id == "{models.GPT2}"', config=config)
    assert [m.model_id for m in result.matches] == [models.GPT2]
    assert (config.store_path / INDEX_FILE_NAME).is_file()


async def test_a_store_that_is_not_a_folder_gets_no_index_file(
    config: Config, tmp_path: Path
) -> None:
    async with Localizer(config, backend=MemoryBackend()) as loc:
        assert (await loc.download(models.GPT2)).ok
    assert not (config.store_path / INDEX_FILE_NAME).exists()
