"""Shared fixtures: anyio backends, the Hub emulator, clean environment."""

from __future__ import annotations

import pytest


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
