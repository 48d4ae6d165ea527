"""hgloc compare and hgloc query, in-process, on a store filled from the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import anyio
import click
import pytest
from click.testing import CliRunner, Result

from hgloc import Config, Localizer
from hgloc.cli import cli as hgloc_group
from hgloc_testing import HubEmulator

from . import models
from .conftest import fill

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def group() -> click.Group:
    """hgloc's own group: the facts commands are registered on it."""
    assert {"compare", "query"} <= set(hgloc_group.commands)
    return hgloc_group


@pytest.fixture
def run(group: click.Group, hub: HubEmulator, tmp_path: Path) -> Run:
    store = tmp_path / "store"
    assert hub.url

    async def prepare() -> None:
        config = Config(models_store_path=store, hf_endpoint=hub.url, offline=False)
        async with Localizer(config) as loc:
            await fill(loc)

    anyio.run(prepare)

    def invoke(*args: str, tty: bool = False) -> Result:
        env = {"HF_ENDPOINT": hub.url, "TTY_COMPATIBLE": "1" if tty else "0", "COLUMNS": "200"}
        return CliRunner().invoke(group, ["--store", str(store), *args], env=env)

    return invoke


def test_compare_json(run: Run) -> None:
    result = run("compare", models.LLAMA_FULL, models.GPT2, "--json", "--context", "100")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["models"] == [models.LLAMA_FULL, models.GPT2]
    assert data["context"] == 100
    assert all(r["differs"] for r in data["rows"])
    rows = {r["field"]: r["values"] for r in data["rows"]}
    assert rows["kv_heads"] == [32, 12]
    assert rows["total_bytes"] == [48 * 2 + 8 * 4 + 100 * 32 * 2 * 32 * 128 * 2, None]
    every = json.loads(run("compare", models.LLAMA_FULL, models.GPT2, "--json", "--all").stdout)
    assert any(not r["differs"] for r in every["rows"])


def test_compare_table(run: Run) -> None:
    plain = run("compare", models.LLAMA_FULL, models.MIXTRAL_SHARDED)
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ["FIELD", models.LLAMA_FULL, models.MIXTRAL_SHARDED]
    assert ["kv_heads", "32", "8"] in [line.split() for line in lines]
    drawn = run("compare", models.LLAMA_FULL, models.MIXTRAL_SHARDED, "--all", tty=True)
    assert "-24 (-75%)" in drawn.stdout  # kv heads, with the delta from the first model
    assert "\x1b[" in drawn.stdout


def test_compare_missing_model(run: Run) -> None:
    result = run("compare", models.GPT2, "acme/absent")
    assert result.exit_code == 1
    assert "acme/absent is not in the store" in result.stderr


def test_query(run: Run) -> None:
    result = run("query", "layers >= 32 and kv_heads < attention_heads", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"model_id": models.FALCON, "revision": None, "layers": 32, "kv_heads": 1,
         "attention_heads": 71},
        {"model_id": models.MIXTRAL_SHARDED, "revision": None, "layers": 32, "kv_heads": 8,
         "attention_heads": 32},
    ]  # fmt: skip
    table = run("query", "context > 0", "--sort", "-context", "--limit", "2")
    assert [line.split()[0] for line in table.stdout.splitlines()] == [
        "MODEL", models.MIXTRAL_SHARDED, models.FALCON,  # 2048 ties with llama: by id
    ]  # fmt: skip
    assert run("query", 'model_type == "nothing"').stdout == ""


def test_query_fetched_parameters(run: Run) -> None:
    assert run("compare", models.GPT2, models.MIXTRAL_SHARDED, "--fetch-parameters").exit_code == 0
    result = run("query", "parameters > 1e5", "--json")
    assert [m["model_id"] for m in json.loads(result.stdout)] == [models.MIXTRAL_SHARDED]


def test_malformed_expression_points_at_the_fault(run: Run) -> None:
    result = run("query", 'model_type == "llama" and hiden_size > 3')
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: unknown field 'hiden_size'; did you mean 'hidden_size'?",
        '  model_type == "llama" and hiden_size > 3',
        "                            ^^^^^^^^^^",
    ]
    assert run("query", "layers >", "--json").exit_code == 2
    assert run("query", "layers > 1", "--sort", "nope").exit_code == 2
