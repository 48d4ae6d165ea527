"""query, compare and fetch_parameters over a store filled from the Hub emulator."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import attrs
import pytest

from hgloc import Config, Localizer
from hgloc.backends import LocalBackend
from hgloc.errors import ExpressionError, ObjectNotFoundError, OfflineModeError
from hgloc.facts import api
from hgloc.facts._store import SAFETENSORS_FILE
from hgloc.facts.hub_params import FIRST_RANGE
from hgloc.facts.index import INDEX_FILE_NAME
from hgloc_testing import HubEmulator

from . import models
from .conftest import fill

pytestmark = pytest.mark.anyio

# models.llama_weights(): F16 4x8 + 16, F32 8
LLAMA_PARAMS = {"F16": 4 * 8 + 16, "F32": 8}
LLAMA_WEIGHT_BYTES = 48 * 2 + 8 * 4
LLAMA_KV_PER_TOKEN = 32 * 2 * 32 * 128 * 2  # layers x (k, v) x kv heads x head dim x float16
# models.mixtral_shards(): F32 64x1024 + 512x512, I64 3
MIXTRAL_PARAMS = {"F32": 64 * 1024 + 512 * 512, "I64": 3}
MIXTRAL_WEIGHT_BYTES = (64 * 1024 + 512 * 512) * 4 + 3 * 8
MIXTRAL_KV_PER_TOKEN = 32 * 2 * 8 * 128 * 2  # bfloat16, 8 kv heads


async def test_full_model_counted_from_its_stored_files(loc: Localizer) -> None:
    await fill(loc)
    result = await api.query(f'model_id == "{models.LLAMA_FULL}"', localizer=loc)
    (match,) = result.matches
    facts = match.facts
    assert facts["parameters"] == sum(LLAMA_PARAMS.values())
    assert (facts["parameters.F16"], facts["parameters.F32"]) == (48, 8)
    assert facts["weight_bytes"] == LLAMA_WEIGHT_BYTES
    assert facts["kv_cache_bytes_per_token"] == LLAMA_KV_PER_TOKEN
    assert facts["dtype"] == "float16"
    assert match.commit is not None and len(match.commit) == 40


async def test_metadata_only_counted_from_hub_headers(loc: Localizer, hub: HubEmulator) -> None:
    await fill(loc)
    before = await api.query(f'model_id == "{models.MIXTRAL_SHARDED}"', localizer=loc)
    assert "parameters" not in before.matches[0].facts  # not fetched yet: unknown
    hub.reset_requests()

    (fetched,) = await api.fetch_parameters([models.MIXTRAL_SHARDED], localizer=loc)
    assert fetched.fetched and fetched.parameters == sum(MIXTRAL_PARAMS.values())

    # only headers travelled: each shard asked by range, the long header in a second range
    shard_requests = [r for r in hub.requests if not r.path.endswith(".json")]  # + LFS CDN
    assert all("range" in r.headers for r in shard_requests)
    ranges = sorted(r.headers["range"] for r in shard_requests if r.status == 206)
    first = f"bytes=0-{FIRST_RANGE - 1}"
    assert ranges[:2] == [first, first]  # one per shard
    assert ranges[2].startswith(f"bytes={FIRST_RANGE}-")  # the long header's rest
    assert len(ranges) == 3

    facts = (await api.query("parameters > 0 and experts == 8", localizer=loc)).matches[0].facts
    assert facts["parameters.F32"] == MIXTRAL_PARAMS["F32"]
    assert facts["parameters.I64"] == 3
    assert facts["weight_bytes"] == MIXTRAL_WEIGHT_BYTES
    assert facts["kv_cache_bytes_per_token"] == MIXTRAL_KV_PER_TOKEN

    # stored beside the model: asking again makes no request
    hub.reset_requests()
    (again,) = await api.fetch_parameters([models.MIXTRAL_SHARDED], localizer=loc)
    assert not again.fetched and again.parameters == fetched.parameters
    assert hub.requests == []


async def test_offline_afterwards(config: Config, hub: HubEmulator) -> None:
    async with Localizer(config) as loc:
        await fill(loc)
        await api.fetch_parameters([models.MIXTRAL_SHARDED, models.LLAMA_FULL], localizer=loc)
    hub.reset_requests()
    offline = attrs.evolve(config, offline=True, hf_endpoint="http://127.0.0.1:9")
    result = await api.query("parameters > 0", sort="-parameters", config=offline)
    assert [m.model_id for m in result.matches] == [models.MIXTRAL_SHARDED, models.LLAMA_FULL]
    comparison = await api.compare(
        [models.LLAMA_FULL, models.MIXTRAL_SHARDED], context=1000, config=offline
    )
    assert hub.requests == []
    rows = {r.field: r for r in comparison.rows}
    assert rows["total_bytes"].values == (
        LLAMA_WEIGHT_BYTES + 1000 * LLAMA_KV_PER_TOKEN,
        MIXTRAL_WEIGHT_BYTES + 1000 * MIXTRAL_KV_PER_TOKEN,
    )
    with pytest.raises(OfflineModeError):
        await api.fetch_parameters([models.GPT2], config=offline)


async def test_no_safetensors_is_remembered_as_none(loc: Localizer, hub: HubEmulator) -> None:
    await fill(loc)
    (result,) = await api.fetch_parameters([models.NO_WEIGHTS], localizer=loc)
    assert result.fetched and result.parameters is None
    stored = await loc.backend.read(f"{loc.model_prefix(models.NO_WEIGHTS)}/{SAFETENSORS_FILE}")
    assert json.loads(stored)["files"] == {}
    hub.reset_requests()
    (again,) = await api.fetch_parameters([models.NO_WEIGHTS], localizer=loc)
    assert not again.fetched and hub.requests == []


async def test_compare_rows(loc: Localizer) -> None:
    await fill(loc)
    comparison = await api.compare([models.LLAMA_FULL, models.GPT2, models.CLIP], localizer=loc)
    data = comparison.to_json()
    assert data["models"] == [models.LLAMA_FULL, models.GPT2, models.CLIP]
    rows = {r["field"]: r for r in data["rows"]}
    assert rows["hidden_size"] == {
        "field": "hidden_size", "values": [4096, 768, None], "differs": True,
    }  # fmt: skip
    assert rows["architectures"]["values"] == [
        ["LlamaForCausalLM"], ["GPT2LMHeadModel"], ["CLIPModel"],
    ]  # fmt: skip
    assert rows["text_config.hidden_size"]["values"] == [None, None, 512]
    assert rows["config.text_config.max_position_embeddings"]["values"] == [None, None, 77]
    assert rows["config.initializer_range"] == {
        "field": "config.initializer_range", "values": [0.02, 0.02, None], "differs": True,
    }  # fmt: skip
    fields = [r["field"] for r in data["rows"]]
    assert fields.index("model_type") < fields.index("hidden_size") < fields.index("parameters")
    assert fields.index("parameters") < fields.index("config.architectures")
    json.dumps(data)  # JSON-able as it is
    deltas = {r.field: r.deltas() for r in comparison.rows}
    assert deltas["layers"] == (None, "-20 (-62%)", None)


async def test_compare_equal_rows(loc: Localizer) -> None:
    await fill(loc)
    comparison = await api.compare([models.LLAMA_FULL, models.LLAMA_FULL], localizer=loc)
    assert comparison.differing() == ()
    assert comparison.to_json(all_rows=False)["rows"] == []
    assert {r.field for r in comparison.rows} >= {"model_type", "config.vocab_size"}


async def test_compare_by_commit_finds_the_branch_stored_at_it(loc: Localizer) -> None:
    await fill(loc)
    held = await loc.cached(models.GPT2)
    assert held is not None and held.commit is not None
    comparison = await api.compare([models.GPT2, f"{models.GPT2}@{held.commit}"], localizer=loc)
    assert comparison.differing() == ()
    rows = {r["field"]: r for r in comparison.to_json()["rows"]}
    assert rows["hidden_size"]["values"] == [768, 768]
    with pytest.raises(ObjectNotFoundError):
        await api.compare([f"{models.GPT2}@{'0' * 40}"], localizer=loc)


async def test_compare_unknown_model(loc: Localizer) -> None:
    await fill(loc)
    with pytest.raises(ObjectNotFoundError, match="acme/nope"):
        await api.compare([models.GPT2, "acme/nope"], localizer=loc)
    with pytest.raises(ValueError, match="revision"):
        await api.compare(["gpt2@"], localizer=loc)


async def test_index_follows_the_store(config: Config, tmp_path: Path) -> None:
    async with Localizer(config) as loc:
        await fill(loc)
        result = await api.query("layers >= 12", localizer=loc)
        assert {m.model_id for m in result.matches} == {
            models.LLAMA_FULL, models.MIXTRAL_SHARDED, models.GPT2, models.FALCON,
            models.NO_WEIGHTS,
        }  # fmt: skip
        index_file = tmp_path / "store" / INDEX_FILE_NAME
        assert index_file.is_file()
        # a model removed by hand leaves the answers; the index is derived
        prefix = loc.model_prefix(models.GPT2)
        await loc.models.delete(prefix, ["config.json", "model_card.md"])
        result = await api.query("layers >= 12", localizer=loc)
        assert models.GPT2 not in {m.model_id for m in result.matches}
    # a damaged index file is rebuilt, not trusted
    index_file.write_bytes(b"this is not sqlite" * 100)
    result = await api.query("layers >= 12", config=config)
    assert len(result.matches) == 4
    assert await api.rebuild_index(config=config) == 6


async def test_query_limit_sort_and_json(loc: Localizer) -> None:
    await fill(loc)
    result = await api.query("hidden_size > 0", sort="-hidden_size", limit=2, localizer=loc)
    assert result.to_json() == [
        {"model_id": models.FALCON, "revision": None, "hidden_size": 4544},
        {"model_id": models.LLAMA_FULL, "revision": None, "hidden_size": 4096},
    ]
    with pytest.raises(ExpressionError):
        await api.query("hidden_size >", localizer=loc)


async def test_bucket_setting_sees_its_own_folders(config: Config) -> None:
    async with Localizer(config) as loc:
        await fill(loc)
    bucketed = attrs.evolve(config, s3_bucket_name="team")
    async with Localizer(bucketed, backend=LocalBackend(config.store_path)) as loc:
        # the models at the root belong to the setting without a bucket
        assert (await api.query("layers > 0", localizer=loc)).matches == ()


def test_the_facts_api_is_public_and_blocking_too() -> None:
    import inspect

    import hgloc
    import hgloc.sync
    from hgloc import errors

    for name in ("query", "compare", "fetch_parameters", "model_facts", "rebuild_index"):
        assert name in hgloc.__all__ and name in hgloc.sync.__all__
        assert getattr(hgloc, name) is getattr(api, name)
        for module in (hgloc, hgloc.sync):
            parameter = inspect.signature(getattr(module, name)).parameters["config"]
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    for name in ("ModelFacts", "QueryResult", "FetchedParameters", "Comparison", "CompareRow",
                 "Facts", "ExpressionError", "HeaderError"):  # fmt: skip
        assert name in hgloc.__all__ and getattr(hgloc, name) is not None
    assert issubclass(hgloc.ExpressionError, errors.HglocError)
    assert issubclass(hgloc.ExpressionError, ValueError)
    assert issubclass(hgloc.HeaderError, ValueError)


def test_the_blocking_query(config: Config) -> None:
    import hgloc.sync

    async def prepare() -> None:
        async with Localizer(config) as loc:
            await fill(loc)

    anyio.run(prepare)
    result = hgloc.sync.query("parameters > 0", sort="parameters", config=config)
    assert result.matches[0].model_id == models.LLAMA_FULL
    comparison = hgloc.sync.compare([models.GPT2, models.FALCON], config=config)
    assert comparison.models == (models.GPT2, models.FALCON)
