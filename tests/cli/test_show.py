"""show-model-card and show-model-config: cached or not, from the Hub, piped or on a terminal."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hgloc.cli._output import config_summary, split_front_matter

from .conftest import Run
from .helpers import config_bytes, files_under, readme

TERMINAL = {"TTY_COMPATIBLE": "1", "COLUMNS": "100"}


def test_card_not_cached(run: Run, store: Path) -> None:
    result = run("show-model-card", "hgloc-test/card-only")
    assert result.exit_code == 1
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line
    assert "hgloc-test/card-only is not cached" in line
    assert "download-model hgloc-test/card-only" in line and "--try-huggingface" in line
    assert not store.exists()


def test_piped_card_is_raw(run: Run) -> None:
    assert run("download-model", "hgloc-test/unicode-card").exit_code == 0
    result = run("show-model-card", "hgloc-test/unicode-card")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == readme("unicode-card")


def test_card_on_a_terminal_is_rendered(run: Run) -> None:
    assert run("download-model", "hgloc-test/card-only").exit_code == 0
    result = run("show-model-card", "hgloc-test/card-only", env=TERMINAL)
    assert result.exit_code == 0, result.stderr
    assert "card only" in result.stdout
    assert "# card only" not in result.stdout  # the heading was rendered, not echoed
    assert "license: mit" in result.stdout  # front matter shown in its panel


def test_card_from_the_hub_stores_nothing(run: Run, store: Path) -> None:
    result = run("show-model-card", "hgloc-test/revisions", "-r", "v1.0", "--try-huggingface")
    assert result.exit_code == 0, result.stderr
    assert "revisions v1" in result.stdout
    assert files_under(store) == []


def test_card_missing_on_the_hub(run: Run) -> None:
    result = run("show-model-card", "hgloc-test/config-only", "--try-huggingface")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "hgloc-test/config-only" in result.stderr


def test_cached_model_without_a_card(run: Run) -> None:
    assert run("download-model", "hgloc-test/config-only").exit_code == 0
    result = run("show-model-card", "hgloc-test/config-only")
    assert result.exit_code == 1
    assert "is cached in" in result.stderr and "has no model card" in result.stderr


def test_config_json_keeps_nan(run: Run) -> None:
    assert run("download-model", "hgloc-test/config-nan").exit_code == 0
    result = run("show-model-config", "hgloc-test/config-nan", "--json")
    assert result.exit_code == 0, result.stderr
    assert "NaN" in result.stdout
    parsed = json.loads(result.stdout)
    assert parsed.keys() == json.loads(config_bytes("config-nan")).keys()
    assert any(isinstance(v, float) and math.isnan(v) for v in parsed.values())
    # piped without --json: the same pretty JSON
    assert run("show-model-config", "hgloc-test/config-nan").stdout == result.stdout


def test_config_summary_on_a_terminal(run: Run) -> None:
    result = run(
        "show-model-config", "hgloc-test/revisions@v1.0", "--try-huggingface", env=TERMINAL
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    head = out[: out.index("{")]
    assert "Model type:" in head and "gpt2" in head
    assert "GPT2LMHeadModel" in head
    assert "Hidden size:" in head and "768" in head
    assert "Layers:" in head and "12" in head
    assert "Vocabulary:" in head and "50257" in head
    # --json stays exactly JSON on a terminal too
    exact = run("show-model-config", "hgloc-test/revisions@v1.0", "--json", "--try-huggingface")
    assert json.loads(exact.stdout)["n_layer"] == 12


def test_config_not_cached(run: Run, store: Path) -> None:
    result = run("show-model-config", "hgloc-test/config-only", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "run `" in result.stderr and "--try-huggingface" in result.stderr
    assert not store.exists()


def test_show_bad_id_exits_2(run: Run, store: Path) -> None:
    result = run("show-model-config", "a/../../b", "--try-huggingface")
    assert result.exit_code == 2
    assert not store.exists()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 768,
             "num_hidden_layers": 12, "vocab_size": 30522},
            [("Model type", "bert"), ("Architectures", "BertModel"), ("Hidden size", "768"),
             ("Layers", "12"), ("Vocabulary", "30522")],
        ),
        ({"n_embd": 768, "n_layer": 12}, [("Hidden size", "768"), ("Layers", "12")]),
        ({"dim": 768, "n_layers": 6}, [("Hidden size", "768"), ("Layers", "6")]),
        ({"d_model": 512, "num_layers": 6}, [("Hidden size", "512"), ("Layers", "6")]),
        (
            {"d_model": 1024, "encoder_layers": 12, "decoder_layers": 12},
            [("Hidden size", "1024"), ("Layers", "12 encoder + 12 decoder")],
        ),
        (
            {"model_type": "clip", "text_config": {"hidden_size": 512, "vocab_size": 49408}},
            [("Model type", "clip"), ("Hidden size", "512 (text_config)"),
             ("Vocabulary", "49408 (text_config)")],
        ),
        ({"hidden_size": True, "num_layers": None, "architectures": []}, []),
    ],
)  # fmt: skip
def test_config_summary_keys(config: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert config_summary(config) == expected


def test_split_front_matter() -> None:
    assert split_front_matter("---\na: 1\n---\n# T\n") == ("a: 1\n", "# T\n")
    assert split_front_matter("# T\n---\n") == (None, "# T\n---\n")
    assert split_front_matter("---\nunclosed\n") == (None, "---\nunclosed\n")
