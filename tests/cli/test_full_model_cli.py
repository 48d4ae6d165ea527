"""--full-model on the command line: every file stored, patterns, byte progress, prefetch."""

from __future__ import annotations

import functools
import io
import json
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

import hgloc.localize._localizer
from hgloc import TransferSettings
from hgloc.cli import _bytes
from hgloc.cli._bytes import MAX_FILE_BARS, ByteBars, byte_progress, human_size
from hgloc.layout import METADATA_FILE
from hgloc_testing import HubEmulator, MotoServer, Repo, special_repos

from .conftest import Run
from .helpers import files_under

LFS = "hgloc-test/lfs"
BIG = "hgloc-cli/big-weights"  # a file above the core's in-memory limit (1 MiB): a file bar
TERMINAL = {"TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"}
BAR = "━"  # what rich draws bars with


def repo_files(name: str) -> dict[str, bytes]:
    """A special repo's files at its head, named as the store names them."""
    repo = special_repos()[name]
    files = repo.commits[repo.head()]
    return {("model_card.md" if p == "README.md" else p): data for p, data in files.items()}


def stored(folder: Path) -> dict[str, bytes]:
    """The model files of a folder (its metadata file left out)."""
    return {
        name: (folder / name).read_bytes() for name in files_under(folder) if name != METADATA_FILE
    }


def listed(run: Run) -> dict[str, dict[str, object]]:
    result = run("list-local-models", "--json")
    assert result.exit_code == 0, result.stderr
    return {m["model_id"]: m for m in json.loads(result.stdout)}


def folder_of(store: Path, model_id: str) -> Path:
    return store / model_id.replace("/", "_") / "default_revision"


@pytest.fixture(scope="module")
def big(hub: HubEmulator) -> dict[str, bytes]:
    """A repo with a 1.5 MiB weights file, added to the shared emulator once."""
    files = {
        "README.md": b"# big weights\n",
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": random.Random(7).randbytes(3 << 19),
    }
    hub.add_repo(Repo(BIG, [files]))
    return files


# -- download-model --full-model ---------------------------------------------------------------


def test_full_model_stores_every_file(run: Run, store: Path) -> None:
    result = run("download-model", LFS, "--full-model")
    assert result.exit_code == 0, result.stderr
    folder = folder_of(store, LFS)
    expected = repo_files("lfs")
    assert stored(folder) == expected
    size = human_size(sum(len(data) for data in expected.values()))
    line = re.escape(f"Downloaded {LFS} (full model, commit ") + r"[0-9a-f]{8}"
    line += re.escape(f", {len(expected)} files, {size}) to {folder}")
    assert re.fullmatch(line, result.stdout.rstrip("\n")), result.stdout
    assert result.stderr == ""  # not a terminal: no byte bar
    assert listed(run)[LFS]["is_full_model"] is True

    again = run("download-model", LFS, "--full-model")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith(f"{LFS} is already cached (full model, commit ")
    assert f"{len(expected)} files, {size}) in {folder}" in again.stdout


def test_metadata_folder_completed_by_full_model(run: Run, store: Path) -> None:
    assert run("download-model", LFS).exit_code == 0
    assert listed(run)[LFS]["is_full_model"] is False
    result = run("download-model", LFS, "--full-model")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Downloaded {LFS} (full model, ")
    assert stored(folder_of(store, LFS)) == repo_files("lfs")
    assert listed(run)[LFS]["is_full_model"] is True


def test_include_and_exclude_select_files(run: Run, store: Path) -> None:
    result = run(
        "download-model", "hgloc-test/many-files", "--full-model",
        "--include", "*.json", "--exclude", "config.json",
        "--exclude", "shards/part-0/*", "--exclude", "shards/part-1/*",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    expected = {
        name: data
        for name, data in repo_files("many-files").items()
        if name.startswith("shards/part-2/")  # '*' crosses '/', as in huggingface_hub
    }
    assert len(expected) == 50
    assert stored(folder_of(store, "hgloc-test/many-files")) == expected
    assert result.stdout.startswith("Downloaded hgloc-test/many-files (selected files, commit ")
    assert ", 50 files, " in result.stdout
    assert listed(run)["hgloc-test/many-files"]["is_full_model"] is False


def test_patterns_matching_nothing_fail(run: Run, store: Path) -> None:
    result = run(
        "download-model", LFS, "--full-model", "--include", "*.json", "--exclude", "config.json"
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "matches the patterns" in result.stderr
    assert LFS in result.stderr
    assert stored(folder_of(store, LFS)) == {}


@pytest.mark.parametrize("option", ["--include", "--exclude"])
def test_patterns_need_full_model(run: Run, store: Path, option: str) -> None:
    for command in ("download-model", "prefetch"):
        result = run(command, LFS, option, "*.json")
        assert result.exit_code == 2, result.stderr
        assert result.stderr == (
            f"Error: {option} narrows a --full-model download; add --full-model "
            "(without it only the card and config.json are fetched)\n"
        )
        assert result.stdout == ""
    assert not store.exists()


def test_quiet_prints_only_the_path(run: Run, store: Path) -> None:
    result = run("--quiet", "download-model", LFS, "--full-model", env=TERMINAL)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{folder_of(store, LFS)}\n"
    assert result.stderr == ""  # no bar even on a terminal


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def test_full_model_through_the_team_bucket(
    run: Run, store: Path, tmp_path: Path, moto: MotoServer
) -> None:
    """Fetched from the Hub and shared; a teammate's store then copies it from the bucket."""
    env = {
        "HGLOC_S3_BUCKET_NAME": moto.create_bucket(f"full-{uuid.uuid4().hex[:10]}"),
        "HGLOC_S3_ENDPOINT_URL": moto.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": moto.access_key_id,
        "HGLOC_AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
    }
    expected = repo_files("lfs")
    about = f"{len(expected)} files, {human_size(sum(len(d) for d in expected.values()))})"
    first = run("download-model", LFS, "--full-model", env=env)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith(f"Downloaded {LFS} (full model, commit ")
    assert about in first.stdout and " and shared it in s3://" in first.stdout

    other = tmp_path / "teammate"
    copied = run("--store", str(other), "download-model", LFS, "--full-model", env=env)
    assert copied.exit_code == 0, copied.stderr
    assert copied.stdout.startswith(f"Copied {LFS} (full model, commit ")
    assert f"{about} from the team bucket to {other}" in copied.stdout
    # With a bucket the store keeps its models under by_bucket/<bucket>/: read where it says.
    assert stored(Path(copied.stdout.rstrip("\n").rpartition(" to ")[2])) == expected


# -- the byte progress display -----------------------------------------------------------------


def test_byte_bar_on_a_terminal(run: Run) -> None:
    result = run("download-model", LFS, "--full-model", env=TERMINAL)
    assert result.exit_code == 0, result.stderr
    assert BAR in result.stderr and LFS in result.stderr
    size = human_size(sum(len(data) for data in repo_files("lfs").values()))
    number = size.split()[0]
    assert f"{number}/{size}" in result.stderr  # rich's download column: done/total
    assert "/s" in result.stderr  # the transfer speed
    assert result.stdout.startswith(f"Downloaded {LFS} (full model, ")


def test_no_bar_when_not_a_terminal(run: Run) -> None:
    result = run("download-model", LFS, "--full-model")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert BAR not in result.stdout and "\x1b[" not in result.stdout


def test_a_big_file_gets_its_own_bar_until_done(
    run: Run, store: Path, big: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real core: the file's bar appears while it downloads and goes when done."""
    seen: list[tuple[str, list[str]]] = []
    original = ByteBars.__call__

    def spy(self: ByteBars, path: str, done: int, total: int) -> None:
        original(self, path, done, total)
        assert self.progress is not None
        seen.append((path, [t.description for t in self.progress.tasks]))

    monkeypatch.setattr(_bytes.ByteBars, "__call__", spy)
    # Unthrottled reports: on a fast loopback the whole file would fit in one 0.1 s interval.
    unthrottled = functools.partial(TransferSettings, progress_interval=0.0)
    monkeypatch.setattr(hgloc.localize._localizer, "TransferSettings", unthrottled)
    result = run("download-model", BIG, "--full-model", env=TERMINAL)
    assert result.exit_code == 0, result.stderr
    assert (folder_of(store, BIG) / "model.safetensors").read_bytes() == big["model.safetensors"]
    assert seen[0] == ("", [BIG])  # the model's total comes first
    assert ("model.safetensors", [BIG, "model.safetensors"]) in seen
    assert seen[-1][1] == [BIG]  # the file's bar went when it completed
    assert BAR in result.stderr


def test_byte_bars_add_and_remove_file_bars() -> None:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=120)
    with ByteBars("org/model", out=terminal) as bars:
        bars("", 0, 0)  # nothing to fetch: nothing drawn yet
        assert bars.progress is None
        bars("", 0, 5_000_000)
        bars("weights/" + "x" * 60 + ".safetensors", 1_000_000, 4_000_000)
        bars("tokenizer.json", 500_000, 1_000_000)
        assert bars.progress is not None
        names = [t.description for t in bars.progress.tasks]
        assert names[0] == "org/model" and names[2] == "tokenizer.json"
        assert names[1].startswith("…") and names[1].endswith(".safetensors")
        assert len(names[1]) == 40  # long paths keep their end
        bars("tokenizer.json", 1_000_000, 1_000_000)
        assert [t.description for t in bars.progress.tasks][1:] == [names[1]]
        bars("tokenizer.json", 0, 1_000_000)  # restarted after a hash mismatch...
        assert len(bars.progress.tasks) == 2
        bars("tokenizer.json", 1, 1_000_000)  # ...back once its bytes flow again
        assert len(bars.progress.tasks) == 3
        bars("tokenizer.json", 1_000_000, 1_000_000)
        bars(names[1].replace("…", "weights/" + "x" * 9), 4_000_000, 4_000_000)
        bars("", 5_000_000, 5_000_000)
        overall = bars.progress.tasks[0]
        assert (overall.completed, overall.total) == (5_000_000, 5_000_000)
    drawn = out.getvalue()
    assert "5.0/5.0 MB" in drawn and "org/model" in drawn and BAR in drawn


def test_file_bars_are_capped() -> None:
    """Files announced at 0 get no bar; beyond MAX_FILE_BARS in flight, the rest wait hidden."""
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    names = [f"model-{i:05d}.safetensors" for i in range(MAX_FILE_BARS + 3)]
    with ByteBars("org/model", out=terminal) as bars:
        bars("", 0, 100 * len(names))
        for name in names:
            bars(name, 0, 100)
        assert bars.progress is not None and len(bars.progress.tasks) == 1

        def visible() -> list[str]:
            assert bars.progress is not None
            return [t.description for t in bars.progress.tasks if t.visible][1:]

        for name in names:
            bars(name, 10, 100)
        assert visible() == names[:MAX_FILE_BARS]
        bars(names[0], 100, 100)
        assert visible() == names[1 : MAX_FILE_BARS + 1]  # the first waiting file took its place


def test_byte_progress_is_silent_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    for options in ({"quiet": True}, {"json_output": True}):
        with byte_progress("org/model", **options) as on_bytes:
            assert on_bytes is None
    with byte_progress("org/model") as on_bytes:
        assert isinstance(on_bytes, ByteBars)
    monkeypatch.setenv("TTY_INTERACTIVE", "0")
    with byte_progress("org/model") as on_bytes:
        assert on_bytes is None


# rich.filesize's decimal units (what its download column shows beside the bars).
@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1.0 kB"), (66_900, "66.9 kB"),
     (999_960, "1,000.0 kB"), (1_234_567_890, "1.2 GB"), (5 * 10**15, "5.0 PB")],
)  # fmt: skip
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


# -- prefetch --full-model ---------------------------------------------------------------------


def test_prefetch_full_models(run: Run, store: Path) -> None:
    result = run("prefetch", "--json", "--full-model", LFS, "hgloc-test/many-files")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {
        "total", "fetched", "uploaded", "skipped", "failed", "seconds", "models"
    }  # fmt: skip
    assert (report["total"], report["fetched"], report["failed"]) == (2, 2, 0)
    assert set(report["models"][0]) == {
        "model_id", "revision", "status", "path", "commit", "error", "error_type", "seconds",
        "source", "shared", "warnings",
    }  # fmt: skip
    for name, model_id in (("lfs", LFS), ("many-files", "hgloc-test/many-files")):
        assert stored(folder_of(store, model_id)) == repo_files(name)
    models = listed(run)
    assert models[LFS]["is_full_model"] is True
    assert models["hgloc-test/many-files"]["is_full_model"] is True


def test_prefetch_full_model_with_patterns_plain_lines(run: Run, store: Path) -> None:
    result = run("prefetch", "--full-model", "--include", "*.md", LFS, "hgloc-legacy")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(re.match(r"\[\d/2\] ok {6}", line) for line in lines[:2])
    assert lines[2].startswith("2 models: 2 fetched, 0 already cached, 0 failed in ")
    for model_id in (LFS, "hgloc-legacy"):
        assert list(stored(folder_of(store, model_id))) == ["model_card.md"]
