"""prefetch: inputs, validation before any request, progress lines, summary, --json, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hgloc.config import DEFAULT_CONCURRENCY
from hgloc_testing import HubEmulator

from .conftest import Run
from .helpers import files_under

LINE = re.compile(
    r"^\[(\d+)/(\d+)\] (ok      |FAILED  )(\S+)(?: \((fetched|already cached), \d+\.\d\ds\)|: .+)$"
)


def test_arguments_and_file(run: Run, store: Path, tmp_path: Path) -> None:
    listing = tmp_path / "models.txt"
    listing.write_text(
        "# a model list\n"
        "\n"
        "hgloc-test/card-only   # trailing comment\n"
        "  hgloc-test/revisions@v1.0\n"
        "hgloc-legacy\n"
        "hgloc-test/card-only\n",  # a duplicate is fetched once
        encoding="utf-8",
    )
    result = run("prefetch", "hgloc-test/config-only", "-f", str(listing))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    progress, summary = lines[:-1], lines[-1]
    assert len(progress) == 4
    assert all(LINE.match(line) for line in progress), progress
    assert [LINE.match(line).group(1) for line in progress] == ["1", "2", "3", "4"]  # type: ignore[union-attr]
    assert {LINE.match(line).group(4) for line in progress} == {  # type: ignore[union-attr]
        "hgloc-test/config-only",
        "hgloc-test/card-only",
        "hgloc-test/revisions@v1.0",
        "hgloc-legacy",
    }
    assert re.fullmatch(r"4 models: 4 fetched, 0 already cached, 0 failed in \d+\.\ds", summary)
    assert result.stderr == ""
    assert (store / "hgloc-test_revisions" / "v1.0" / "config.json").exists()

    again = run("prefetch", "hgloc-test/config-only", "hgloc-legacy")
    assert again.exit_code == 0
    assert "(already cached, " in again.stdout
    assert "2 models: 0 fetched, 2 already cached, 0 failed" in again.stdout


def test_json_report(run: Run) -> None:
    result = run("prefetch", "--json", "hgloc-test/config-nan", "hgloc-test/revisions@dev")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)  # stdout holds only the document
    assert set(report) == {
        "total", "fetched", "uploaded", "skipped", "failed", "seconds", "models"
    }  # fmt: skip
    assert (report["total"], report["fetched"], report["failed"]) == (2, 2, 0)
    assert [m["model_id"] for m in report["models"]] == [
        "hgloc-test/config-nan",
        "hgloc-test/revisions",
    ]
    assert [m["revision"] for m in report["models"]] == [None, "dev"]
    assert set(report["models"][0]) == {
        "model_id", "revision", "status", "path", "commit", "error", "error_type", "seconds",
        "source", "shared", "warnings",
    }  # fmt: skip
    assert "2 models: 2 fetched" in result.stderr  # the human summary moved to stderr


def test_a_failed_model_exits_1_and_says_why(run: Run) -> None:
    result = run("prefetch", "--json", "hgloc-legacy", "hgloc-test/empty")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["fetched"], report["failed"]) == (1, 1)
    failed = next(m for m in report["models"] if m["status"] == "failed")
    assert failed["model_id"] == "hgloc-test/empty"
    assert "neither README.md nor config.json" in failed["error"]
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert failures == [f"FAILED  hgloc-test/empty: {failed['error']}"]


def test_plain_failed_line(run: Run) -> None:
    result = run("prefetch", "hgloc-test/empty")
    assert result.exit_code == 1
    assert result.stdout.startswith("[1/1] FAILED  hgloc-test/empty: 'hgloc-test/empty' at ")
    assert "1 model: 0 fetched, 0 already cached, 1 failed" in result.stdout


def test_a_missing_repo_does_not_stop_the_others(run: Run) -> None:
    result = run("prefetch", "--json", "hgloc-legacy", "hgloc-test/no-such-model")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["fetched"], report["failed"]) == (1, 1)
    assert report["models"][1]["error_type"] == "RepositoryNotFoundError"
    assert "FAILED  hgloc-test/no-such-model: model 'hgloc-test/no-such-model' was not found" in (
        result.stderr
    )


def test_quiet_keeps_failures_on_stderr(run: Run) -> None:
    result = run("--quiet", "prefetch", "hgloc-legacy", "hgloc-test/empty")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("FAILED  hgloc-test/empty: ")


def test_stdin(run: Run, store: Path) -> None:
    result = run(
        "--quiet", "prefetch", "-f", "-", "-r", "main", input="hgloc-test/config-only\n# done\n"
    )
    assert result.exit_code == 0, result.stderr
    assert files_under(store / "hgloc-test_config-only" / "main")


def test_every_bad_line_reported_and_nothing_fetched(
    run: Run, hub: HubEmulator, store: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "models.txt"
    listing.write_text(
        "hgloc-legacy\n# fine\na/../../b\n\nhgloc-test/card-only@\nbad id with spaces\n",
        encoding="utf-8",
    )
    hub.reset_requests()
    result = run("prefetch", "hgloc-test/lfs", "../x", "-f", str(listing))
    assert result.exit_code == 2
    errors = result.stderr.splitlines()
    assert errors[0].startswith("Error: argument 2: invalid model id '../x'")
    assert errors[1].startswith(f"Error: {listing}:3: invalid model id 'a/../../b'")
    assert errors[2].startswith(f"Error: {listing}:5: ")
    assert errors[3].startswith(f"Error: {listing}:6: ")
    assert errors[4] == "Error: 4 bad model entries; nothing was fetched"
    assert result.stdout == ""
    assert not store.exists()
    assert hub.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "0"], "0 is not in the range x>=1"),
        (["-c", "-3"], "is not in the range x>=1"),
        ([], "give model ids as arguments or with -f FILE"),
        (["-f", "/no/such/models.txt"], "cannot read model list /no/such/models.txt"),
    ],
)
def test_bad_usage_exits_2(run: Run, store: Path, args: list[str], message: str) -> None:
    extra = ["hgloc-legacy"] if args and args[0] in ("--concurrency", "-c") else []
    result = run("prefetch", *args, *extra)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not store.exists()


def test_unreadable_file(run: Run, store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    for path in (folder, binary):
        result = run("prefetch", "-f", str(path))
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: cannot read model list {path}")
        assert result.stderr.count("\n") == 1
    assert not store.exists()


def test_empty_list_is_nothing_to_do(run: Run, store: Path, tmp_path: Path) -> None:
    listing = tmp_path / "empty.txt"
    listing.write_text("# nothing yet\n", encoding="utf-8")
    result = run("prefetch", "--json", "-f", str(listing))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["total"] == 0
    assert not store.exists()


def test_progress_bar_on_a_terminal(run: Run) -> None:
    result = run("prefetch", "hgloc-legacy", "hgloc-test/empty", env={"TTY_INTERACTIVE": "1"})
    assert result.exit_code == 1
    assert "2/2" in result.stderr and "1 failed" in result.stderr  # the bar's last frame
    assert "[1/2]" not in result.stdout  # no plain lines on a terminal
    assert "2 models: 1 fetched, 0 already cached, 1 failed" in result.stdout


def test_default_concurrency_matches_the_core(run: Run) -> None:
    result = run("prefetch", "--help")
    assert f"[default: {DEFAULT_CONCURRENCY}; x>=1]" in result.stdout
