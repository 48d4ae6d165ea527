"""Fixtures for driving the command line: a Hub emulator, a store, a runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hgloc.cli import cli
from hgloc_testing import HubEmulator, Repo, special_renames, special_repos, special_tokens

from .helpers import MOVING

Run = Callable[..., Result]


@pytest.fixture(scope="session")
def hub() -> Iterator[HubEmulator]:
    """One emulator for the CLI tests: the special repos plus one repo tests may push to."""
    repos = [
        *special_repos().values(),
        Repo(MOVING, [{"README.md": b"# moving\n", "config.json": b'{"model_type": "bert"}'}]),
    ]
    emulator = HubEmulator(repos, renames=special_renames(), tokens=special_tokens())
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub_url(hub: HubEmulator) -> str:
    assert hub.url is not None
    return hub.url


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The store folder: not created, so a test can tell the CLI never touched it."""
    return tmp_path / "store"


@pytest.fixture
def run(hub_url: str, store: Path) -> Run:
    """``run(*args, input=None, env={})``: the CLI in-process, on the emulator and the tmp store."""

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        full_env = {"HF_ENDPOINT": hub_url, "TTY_COMPATIBLE": "0", "TTY_INTERACTIVE": "0"}
        full_env.update(env or {})
        return runner.invoke(
            cli, ["--store", str(store), *args], input=input, env=full_env, catch_exceptions=False
        )

    return invoke
