"""The documented invocations in real child processes, output piped (so: not a terminal)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .helpers import readme, run_module


def test_documented_form_end_to_end(hub_url: str, store: Path) -> None:
    env = {"HF_ENDPOINT": hub_url, "HGLOC_MODELS_STORE_PATH": str(store)}
    got = run_module(
        "hg_localization.cli", ["download-model", "hgloc-test/card-only", "--no-s3-upload"], env=env
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("Downloaded hgloc-test/card-only")

    card = run_module("hg_localization.cli", ["show-model-card", "hgloc-test/card-only"], env=env)
    assert card.stdout.encode() == readme("card-only")  # piped: raw

    missing = run_module("hg_localization.cli", ["show-model-card", "hgloc-legacy"], env=env)
    assert missing.returncode == 1
    assert "run `python -m hg_localization.cli download-model hgloc-legacy`" in missing.stderr


def test_prefetch_plain_progress_lines(hub_url: str, store: Path) -> None:
    env = {"HF_ENDPOINT": hub_url}
    ids = "hgloc-legacy\nhgloc-test/empty\nhgloc-test/revisions@v1.0\n"
    result = run_module(
        "hgloc", ["--store", str(store), "prefetch", "-f", "-", "-c", "2"], env=env, input=ids
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    for number, line in enumerate(lines[:3], start=1):
        assert line.startswith(f"[{number}/3] ")
    # Models finish in any order: drop the "[i/3] " counter before sorting.
    ok = sorted(line[6:] for line in lines[:3] if " ok      " in line)
    assert [re.sub(r"\d+\.\d\ds", "T", line) for line in ok] == [
        "ok      hgloc-legacy (fetched, T)",
        "ok      hgloc-test/revisions@v1.0 (fetched, T)",
    ]
    assert any(line[6:].startswith("FAILED  hgloc-test/empty: ") for line in lines[:3])
    assert re.fullmatch(r"3 models: 2 fetched, 0 already cached, 1 failed in \d+\.\ds", lines[3])
    assert result.stderr.startswith("FAILED  hgloc-test/empty: ")

    listed = run_module("hgloc", ["--store", str(store), "list-local-models", "--json"], env=env)
    assert sorted(m["model_id"] for m in json.loads(listed.stdout)) == [
        "hgloc-legacy", "hgloc-test/revisions"
    ]  # fmt: skip
