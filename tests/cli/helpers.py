"""Helpers shared by the CLI tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hgloc_testing import special_repos

SRC = Path(__file__).resolve().parents[2] / "src"

# A repo that only the refresh test moves, so the shared emulator stays predictable.
MOVING = "hgloc-cli/moving"


def readme(name: str) -> bytes:
    """The README.md of a special repo, at its default branch."""
    repo = special_repos()[name]
    return repo.commits[repo.head()]["README.md"]


def config_bytes(name: str) -> bytes:
    repo = special_repos()[name]
    return repo.commits[repo.head()]["config.json"]


def files_under(path: Path) -> list[str]:
    """Every file below ``path``, relative; empty when the folder does not exist."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c <code>`` in a child process with hgloc's source on the path."""
    return _run([sys.executable, "-c", code], env=None, input=None)


def run_module(
    module: str,
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` in a child process with hgloc's source on the path."""
    return _run([sys.executable, "-m", module, *args], env=env, input=input)


def _run(
    argv: list[str], *, env: dict[str, str] | None, input: str | None
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "FORCE_COLOR"))}
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SRC), child_env.get("PYTHONPATH")) if p
    )
    child_env.update(env or {})
    return subprocess.run(
        argv,
        env=child_env,
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
