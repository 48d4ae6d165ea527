"""download-model: fetch, skip, refresh, and one-line failures with the right exit code."""

from __future__ import annotations

from pathlib import Path

from hgloc_testing import HubEmulator

from .conftest import Run
from .helpers import MOVING, files_under, readme


def test_download_then_cached(run: Run, store: Path) -> None:
    first = run("download-model", "hgloc-test/card-only")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("Downloaded hgloc-test/card-only (commit ")
    folder = store / "hgloc-test_card-only" / "default_revision"
    assert str(folder) in first.stdout
    assert (folder / "model_card.md").read_bytes() == readme("card-only")
    assert first.stderr == ""

    again = run("download-model", "hgloc-test/card-only")
    assert again.exit_code == 0
    assert "already cached" in again.stdout and "--refresh" in again.stdout


def test_a_commit_already_cached_gets_no_refresh_hint(run: Run, hub: HubEmulator) -> None:
    commit = hub.repos["hgloc-test/revisions"].commit_sha(0)
    assert run("download-model", f"hgloc-test/revisions@{commit}").exit_code == 0
    again = run("download-model", f"hgloc-test/revisions@{commit}")
    assert again.exit_code == 0
    assert "already cached" in again.stdout and "--refresh" not in again.stdout


def test_quiet_prints_only_the_path(run: Run, store: Path) -> None:
    result = run("--quiet", "download-model", "hgloc-test/revisions", "--revision", "v1.0")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{store / 'hgloc-test_revisions' / 'v1.0'}\n"


def test_revision_in_the_id(run: Run, store: Path) -> None:
    result = run("download-model", "hgloc-test/revisions@dev")
    assert result.exit_code == 0, result.stderr
    assert (store / "hgloc-test_revisions" / "dev" / "config.json").exists()


def test_refresh_follows_a_moved_branch(run: Run, hub: HubEmulator, store: Path) -> None:
    assert run("download-model", MOVING).exit_code == 0
    unchanged = run("download-model", MOVING, "--refresh")
    assert "is up to date" in unchanged.stdout
    hub.push_commit(MOVING, {"README.md": b"# moved\n"})
    moved = run("download-model", MOVING, "--refresh")
    assert moved.exit_code == 0, moved.stderr
    assert moved.stdout.startswith(f"Downloaded {MOVING}")
    card = store / "hgloc-cli_moving" / "default_revision" / "model_card.md"
    assert card.read_bytes() == b"# moved\n"


def test_missing_model_is_one_line_exit_1(run: Run, store: Path) -> None:
    result = run("download-model", "hgloc-test/no-such-model")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert "hgloc-test/no-such-model" in lines[0] and "not found" in lines[0]
    assert "Traceback" not in result.stderr
    assert files_under(store) == []


def test_repo_with_nothing_to_localize(run: Run) -> None:
    result = run("download-model", "hgloc-test/empty")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "hgloc-test/empty" in result.stderr


def test_debug_shows_the_traceback(run: Run) -> None:
    result = run("--debug", "download-model", "hgloc-test/empty")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: ")


def test_bad_ids_exit_2_without_touching_the_store(run: Run, store: Path) -> None:
    for bad in ("a/../../b", "../etc", "org/name/extra", "x@", "ok/name@.."):
        result = run("download-model", bad)
        assert result.exit_code == 2, (bad, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert not store.exists()


def test_revision_given_twice_is_usage_error(run: Run, store: Path) -> None:
    result = run("download-model", "hgloc-test/revisions@dev", "--revision", "main")
    assert result.exit_code == 2
    assert "give it once" in result.stderr
    assert not store.exists()


def test_make_public_without_bucket_is_usage_error(run: Run, store: Path) -> None:
    result = run("download-model", "hgloc-legacy", "--make-public")
    assert result.exit_code == 2
    assert "--make-public needs a team bucket" in result.stderr
    assert "HGLOC_S3_BUCKET_NAME" in result.stderr
    assert not store.exists()


def test_offline_names_the_model(run: Run, store: Path) -> None:
    result = run("download-model", "hgloc-test/lfs", env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 1
    assert "hgloc-test/lfs" in result.stderr and "offline" in result.stderr
    assert result.stderr.count("\n") == 1
    assert files_under(store) == []
