"""The seed document's examples run as written: Python snippets and CLI commands.

``tests/data/MODEL_LOCALIZATION.md`` is a copy of the document HG-Localization
users were given; every snippet in it is run against the Hub emulator.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_fixtures import hf_subprocess_env

from hgloc_testing import HubEmulator, MotoServer, Repo

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


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def env(doc_hub: str, tmp_path: Path) -> dict[str, str]:
    env = hf_subprocess_env(doc_hub, tmp_path / "hf_home")
    env["HGLOC_MODELS_STORE_PATH"] = str(tmp_path / "models")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture
def s3_env(env: dict[str, str], moto: MotoServer) -> dict[str, str]:
    """The document's "if S3 is configured": a team bucket on a real S3 server."""
    bucket = moto.create_bucket(f"doc-{uuid.uuid4().hex[:8]}")
    return {
        **env,
        "HGLOC_S3_BUCKET_NAME": bucket,
        "HGLOC_S3_ENDPOINT_URL": moto.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": moto.access_key_id,
        "HGLOC_AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
    }


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


@pytest.mark.parametrize("with_bucket", [False, True], ids=["local", "bucket"])
def test_cli_examples_run_as_written(
    env: dict[str, str], s3_env: dict[str, str], with_bucket: bool
) -> None:
    env = s3_env if with_bucket else env
    commands = [
        line.strip()
        for block in _blocks("bash")
        for line in block.splitlines()
        if line.strip().startswith("python -m hg_localization.cli")
    ]
    assert len(commands) >= 10
    for command in commands:
        if not with_bucket and ("--make-public" in command or "custom-org/" in command):
            continue  # "if S3 is configured" and the team workflow need the bucket
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
