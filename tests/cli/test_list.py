"""list-local-models: empty store, plain table when piped, rich table on a terminal, --json."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Run


def test_empty_store(run: Run, store: Path) -> None:
    result = run("list-local-models")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No models in" in result.stderr
    assert json.loads(run("list-local-models", "--json").stdout) == []
    assert not store.exists()


def test_listing(run: Run, store: Path) -> None:
    assert run("prefetch", "hgloc-test/config-only", "hgloc-test/revisions@v1.0").exit_code == 0

    plain = run("list-local-models")
    assert plain.exit_code == 0
    header, *rows = plain.stdout.splitlines()
    assert header.split() == [
        "MODEL",
        "REVISION",
        "COMMIT",
        "CARD",
        "CONFIG",
        "KIND",
        "PUBLIC",
        "PATH",
    ]
    assert [r.split()[:7] for r in rows] == [
        ["hgloc-test/config-only", "(default)", rows[0].split()[2], "no", "yes", "metadata", "no"],
        ["hgloc-test/revisions", "v1.0", rows[1].split()[2], "yes", "yes", "metadata", "no"],
    ]
    assert rows[1].split()[7] == str(store / "hgloc-test_revisions" / "v1.0")
    assert all(len(r.split()[2]) == 8 for r in rows)  # short commits

    listed = json.loads(run("list-local-models", "--json").stdout)
    assert [m["model_id"] for m in listed] == ["hgloc-test/config-only", "hgloc-test/revisions"]
    assert set(listed[0]) == {
        "model_id", "revision", "commit", "has_card", "has_config", "is_public",
        "is_full_model", "path", "cached_timestamp",
    }  # fmt: skip
    assert len(listed[1]["commit"]) == 40

    table = run("list-local-models", env={"TTY_COMPATIBLE": "1", "COLUMNS": "200"})
    assert "2 models in" in table.stdout and "hgloc-test/revisions" in table.stdout
