"""Hub emulator fixtures and helpers.

tests/conftest.py is shared, so a test module opts in by binding what it uses:
``import hub_fixtures`` then ``hub = hub_fixtures.hub`` at module level.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from hgloc_testing import HubEmulator, make_corpus, special_renames, special_tokens

# A valid token granted nothing: gated repos answer 403, private ones 404.
UNGRANTED_TOKEN = "hf_emulator_ungranted"


def corpus_hub(n: int = 40, **kwargs: Any) -> HubEmulator:
    """An emulator (not started) serving ``make_corpus(n)`` with the special renames and tokens."""
    tokens: dict[str, str | Collection[str]] = {**special_tokens(), UNGRANTED_TOKEN: "someone-else"}
    return HubEmulator(make_corpus(n), renames=special_renames(), tokens=tokens, **kwargs)


@pytest.fixture
def hub() -> Iterator[HubEmulator]:
    """A running emulator serving ``make_corpus(40)``; ``hub.url`` is its base URL."""
    emulator = corpus_hub()
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub_url(hub: HubEmulator) -> str:
    assert hub.url is not None
    return hub.url


def hf_subprocess_env(url: str, home: Path) -> dict[str, str]:
    """Environment for a child process running stock huggingface_hub against ``url``.

    huggingface_hub reads ``HF_ENDPOINT`` at import time, hence a child process.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HF_") and k != "HUGGING_FACE_HUB_TOKEN"
    }
    env.update(
        HF_ENDPOINT=url,
        HF_HOME=str(home),
        HF_HUB_CACHE=str(home / "hub"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
    )
    return env


@pytest.fixture
def hf_env(hub_url: str, tmp_path: Path) -> dict[str, str]:
    return hf_subprocess_env(hub_url, tmp_path / "hf_home")


def normal_ids(hub: HubEmulator, n: int, start: int = 0) -> list[str]:
    """Ordinary corpus repos (no special ones) with both a card and a config."""
    ids = [
        repo_id
        for repo_id, repo in hub.repos.items()
        if not repo_id.startswith("hgloc")
        and {"README.md", "config.json"} <= set(repo.commits[repo.head()])
    ]
    assert len(ids) >= start + n, f"the corpus has {len(ids)} such repos, {start + n} wanted"
    return ids[start : start + n]
