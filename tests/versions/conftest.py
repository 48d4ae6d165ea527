"""Fixtures for versions, locks and collections: an emulator whose repos have branches and tags.

Each test gets repos of its own (a fresh id), so a test that moves a branch
never changes what another test sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hgloc import Config
from hgloc.cli import cli
from hgloc_testing import HubEmulator, Repo

WEIGHTS_V0 = b"\x00weights-v0" * 100
WEIGHTS_V1 = b"\x01weights-v1" * 100
CONFIG = b'{"model_type": "bert", "hidden_size": 8}'


def versioned_repo(repo_id: str) -> Repo:
    """Three commits; ``v1.0`` at the first, ``v2.0`` and ``stable`` at the second, ``main`` last.

    Commit 1 changes the card only; commit 2 changes the weights: ``config.json``
    is the same at every commit, the weights at commits 0 and 1.
    """
    c0 = {"README.md": b"# v0\n", "config.json": CONFIG, "model.safetensors": WEIGHTS_V0}
    c1 = {**c0, "README.md": b"# v1\n"}
    c2 = {**c1, "model.safetensors": WEIGHTS_V1}
    return Repo(
        repo_id,
        [c0, c1, c2],
        branches={"main": 2, "stable": 1},
        tags={"v1.0": 0, "v2.0": 1},
    )


@pytest.fixture(scope="session")
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator([versioned_repo("hgloc-versions/base")])
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def repo_id(hub: HubEmulator) -> str:
    """A fresh versioned repo on the emulator, for this test only."""
    rid = f"hgloc-versions/m-{uuid.uuid4().hex[:10]}"
    hub.add_repo(versioned_repo(rid))
    return rid


@pytest.fixture
def make_repo(hub: HubEmulator) -> Callable[[], str]:
    def make() -> str:
        rid = f"hgloc-versions/m-{uuid.uuid4().hex[:10]}"
        hub.add_repo(versioned_repo(rid))
        return rid

    return make


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def config(hub: HubEmulator, store: Path) -> Config:
    assert hub.url
    return Config(models_store_path=store, hf_endpoint=hub.url, offline=False)


Run = Callable[..., Result]


@pytest.fixture
def run(hub: HubEmulator, store: Path) -> Run:
    """``run(*args, env={})``: the CLI in-process, on the emulator and the tmp store."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        full_env = {"HF_ENDPOINT": str(hub.url), "TTY_COMPATIBLE": "0", "TTY_INTERACTIVE": "0"}
        full_env.update(env or {})
        return CliRunner().invoke(
            cli, ["--store", str(store), *args], env=full_env, catch_exceptions=False
        )

    return invoke
