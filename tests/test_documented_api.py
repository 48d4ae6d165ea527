"""The seed document's examples run as written: Python snippets and CLI commands.

``tests/data/MODEL_LOCALIZATION.md`` is a copy of the document HG-Localization
users were given; every snippet in it is run against the Hub emulator.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_fixtures import hf_subprocess_env

from hgloc.testing import HubEmulator, Repo

DOC = Path(__file__).parent / "data" / "MODEL_LOCALIZATION.md"
SRC = str(Path(__file__).resolve().parents[1] / "src")

# The ids the document uses, as they live on the Hub today (renamed repos included).
RENAMES = {
    "bert-base-uncased": "google-bert/bert-base-uncased",
    "gpt2": "openai-community/gpt2",
}
CONFIG = b'{"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 768}'


def _repos() -> list[Repo]:
    ids = [*RENAMES.values(), "microsoft/DialoGPT-medium", "custom-org/custom-model"]
    files = {
        repo_id: {
            "README.md": f"---\nlicense: mit\n---\n# {repo_id}\n".encode(),
            "config.json": CONFIG,
        }
        for repo_id in ids
    }
    # The document asks for bert-base-uncased at revision v1.0: a tag on the first commit.
    bert = Repo(
        "google-bert/bert-base-uncased",
        [files.pop("google-bert/bert-base-uncased")] * 2,
        tags={"v1.0": 0},
    )
    return [bert, *(Repo(repo_id, [f]) for repo_id, f in files.items())]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def doc_hub() -> Iterator[str]:
    hub = HubEmulator(_repos(), renames=RENAMES)
    with hub.run_in_thread() as url:
        yield url


@pytest.fixture
def env(doc_hub: str, tmp_path: Path) -> dict[str, str]:
    env = hf_subprocess_env(doc_hub, tmp_path / "hf_home")
    env["HGLOC_MODELS_STORE_PATH"] = str(tmp_path / "models")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    return env


def test_document_has_the_examples() -> None:
    assert len(_blocks("python")) >= 5
    assert len(_blocks("bash")) >= 4


def test_python_examples_run_as_written(env: dict[str, str], tmp_path: Path) -> None:
    blocks = _blocks("python")
    # The configuration example names a bucket and a path; it only builds a config.
    script = "\n\n".join(
        b.replace('"/path/to/models"', repr(str(tmp_path / "cfg"))) for b in blocks
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Model saved to:" in out
    assert "Model: bert-base-uncased" in out and "Has Config: True" in out
    assert "Model Type: bert" in out
    assert "Traceback" not in result.stderr


def test_cli_examples_run_as_written(env: dict[str, str]) -> None:
    commands = [
        line.strip()
        for block in _blocks("bash")
        for line in block.splitlines()
        if line.strip().startswith("python -m hg_localization.cli")
    ]
    assert len(commands) >= 10
    for command in commands:
        if "--full-model" in command:
            continue  # full models are covered by tests/test_full_model.py
        argv = [sys.executable, *command.split()[1:]]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    listing = subprocess.run(
        [sys.executable, "-m", "hg_localization.cli", "list-local-models"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for model_id in ("bert-base-uncased", "gpt2", "microsoft/DialoGPT-medium"):
        assert model_id in listing.stdout
