"""One model's unexpected error fails that model only: the bulk run completes and reports.

Issue 15, case 1: an error that is neither an ``HglocError`` nor an ``OSError`` (a
``ValueError`` from URL parsing, a ``KeyError`` or ``RuntimeError`` from a bug or a
store plugin) used to abort ``prefetch``, ``sync-all`` and ``verify`` with no report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hgloc import Config, Localizer, Status
from hgloc.backends import LocalBackend
from hgloc.cli import cli
from hgloc_testing import HubEmulator, Repo

from .helpers import FAST_RETRY

pytestmark = pytest.mark.anyio

IDS = [f"iso/model-{i}" for i in range(6)]
BAD = "iso/model-3"


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    repos = [
        Repo(i, [{"README.md": f"# {i}\n".encode(), "config.json": b'{"model_type": "bert"}'}])
        for i in IDS
    ]
    emulator = HubEmulator(repos)
    with emulator.run_in_thread():
        yield emulator


def config_for(hub: HubEmulator, root: Path) -> Config:
    return Config(models_store_path=root, hf_endpoint=hub.url, offline=False)


class BuggyBackend(LocalBackend):
    """A store plugin with a bug: writing or reading one model's folder raises ``error``."""

    def __init__(self, root: Path, error: Exception) -> None:
        super().__init__(root)
        self.error = error
        self.armed = True

    def _check(self, keys: Any) -> None:
        if self.armed and any("model-3" in key for key in keys):
            raise self.error

    async def write_many(self, items: Mapping[str, bytes]) -> None:
        self._check(items)
        await super().write_many(items)

    async def read_stream(self, key: str, **kwargs: Any) -> Any:  # type: ignore[override]
        self._check([key])
        async for chunk in super().read_stream(key, **kwargs):
            yield chunk


@pytest.mark.parametrize(
    "error", [ValueError("Port out of range 0-65535"), KeyError("x"), RuntimeError("bug")]
)
async def test_an_unexpected_error_fails_one_model_and_the_prefetch_goes_on(
    hub: HubEmulator, tmp_path: Path, error: Exception
) -> None:
    backend = BuggyBackend(tmp_path / "store", error)
    seen: list[str] = []
    async with Localizer(
        config_for(hub, tmp_path / "store"), backend=backend, retry=FAST_RETRY, concurrency=2
    ) as loc:
        report = await loc.prefetch(IDS, progress=lambda r: seen.append(r.model_id))
        [failed] = report.failed
        assert failed.model_id == BAD and failed.error_type == type(error).__name__
        assert "unexpected" in (failed.error or "")
        assert [r.model_id for r in report.results] == IDS
        assert sorted(seen) == sorted(IDS)  # every model reported, the failed one too
        assert len(report.fetched) == len(IDS) - 1
        # verify meets the same bug on that model's files: it reports it and checks the rest.
        backend.armed = False
        await loc.download(BAD)
        backend.armed = True
        checked = await loc.verify()
    assert [r.model_id for r in checked.damaged] == [BAD]
    assert "unexpected" in (checked.damaged[0].error or "")
    assert len(checked.results) == len(IDS)


async def test_cancellation_is_never_turned_into_a_failed_row(
    hub: HubEmulator, tmp_path: Path
) -> None:
    import anyio

    async with Localizer(config_for(hub, tmp_path / "store"), retry=FAST_RETRY) as loc:
        with anyio.CancelScope() as scope:

            def stop(result: object) -> None:
                scope.cancel()

            await loc.prefetch(IDS, progress=stop)
    assert scope.cancelled_caught


def test_prefetch_json_reports_an_unexpected_error_and_exits_1(
    hub: HubEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line: the JSON report is printed, exit code 1 (a failure), not 2."""
    import hgloc.localize._read_path as read_path

    real = read_path.fetch_metadata

    async def buggy(source: Any, model_id: str, revision: str) -> Any:
        if model_id == BAD:
            raise ValueError("Invalid IPv6 URL")  # what urllib raised for a hostile Location
        return await real(source, model_id, revision)

    monkeypatch.setattr(read_path, "fetch_metadata", buggy)
    env = {"HF_ENDPOINT": str(hub.url), "TTY_COMPATIBLE": "0", "TTY_INTERACTIVE": "0"}
    result = CliRunner().invoke(
        cli,
        ["--store", str(tmp_path / "store"), "prefetch", *IDS, "--json"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    statuses = {m["model_id"]: m["status"] for m in report["models"]}
    assert statuses.pop(BAD) == Status.FAILED
    assert set(statuses.values()) == {Status.FETCHED}
    [bad] = [m for m in report["models"] if m["model_id"] == BAD]
    assert bad["error_type"] == "ValueError" and "Invalid IPv6 URL" in bad["error"]
