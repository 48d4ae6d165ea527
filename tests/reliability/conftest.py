"""Fixtures of the reliability suite, and the table of measured figures printed at the end.

Every test records what it measured with ``figures.add(theme, name, value)``; the
run ends with those figures (``docs/reliability.md`` quotes them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hgloc_testing import MotoServer

from .helpers import FIGURES, Figures


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES.rows:
        return
    terminalreporter.section("reliability figures (measured in this run)")
    for theme in sorted(FIGURES.rows):
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in FIGURES.rows[theme].items())
        terminalreporter.write_line(f"{theme}: {values}")


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


@pytest.fixture
def anyio_backend() -> str:
    # One loop: the S3 backend's trio path is covered in tests/backends, and the time
    # budget of this folder goes to faults, not to running everything twice.
    return "asyncio"


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server
