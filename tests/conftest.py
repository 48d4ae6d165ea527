"""Shared fixtures: anyio backends, the Hub emulator, clean environment."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TINY_CARD = b"---\nlicense: cc-by-4.0\nlibrary_name: transformers\n---\n# Tiny BERT\n"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's Hub token, AWS keys or store settings."""
    import os

    for name in list(os.environ):
        if name.startswith(("HGLOC_", "AWS_")) or name in {
            "HF_TOKEN",
            "HF_ENDPOINT",
            "HF_HUB_OFFLINE",
            "HUGGING_FACE_HUB_TOKEN",
        }:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))


def model_missing_reason() -> str | None:
    """Why the tiny model (serve and HF-cache tests use it) cannot be built here, or None."""
    for module in ("torch", "transformers", "safetensors"):
        if importlib.util.find_spec(module) is None:
            return f"these tests build a tiny model with {module}: pip install 'hgloc[test]'"
    return None


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT saved by transformers (safetensors) with its tokenizer, built offline."""
    reason = model_missing_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("tiny-bert")
    proc = subprocess.run(
        [sys.executable, str(TESTS / "serve" / "_build_tiny_model.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out / "README.md").write_bytes(TINY_CARD)
    (out / "extras" / "deep").mkdir(parents=True)
    (out / "extras" / "notes.txt").write_text("nested file\n")
    (out / "extras" / "deep" / "data.json").write_text('{"deep": true}\n')
    return out
