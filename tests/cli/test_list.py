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
        "model_id", "revision", "commit", "has_card", "has_config", "has_tokenizer",
        "is_public", "is_full_model", "path", "cached_timestamp", "ambiguous",
    }  # fmt: skip
    assert len(listed[1]["commit"]) == 40

    table = run("list-local-models", env={"TTY_COMPATIBLE": "1", "COLUMNS": "200"})
    assert "2 models in" in table.stdout and "hgloc-test/revisions" in table.stdout


def _fill(store: Path, n: int) -> None:
    """``n`` complete model folders, written directly: the test is about printing them."""
    from hgloc.layout import CONFIG_FILE, METADATA_FILE, FileRecord, ModelRecord, local_model_prefix
    from hgloc.sources import git_blob_sha1

    config = b'{"model_type": "bert"}'
    for i in range(n):
        model_id = f"org/model-{i:04d}"
        folder = store / local_model_prefix(model_id, None)
        folder.mkdir(parents=True)
        (folder / CONFIG_FILE).write_bytes(config)
        record = ModelRecord(
            model_id=model_id,
            revision=None,
            commit=f"{i:040x}",
            files={CONFIG_FILE: FileRecord(CONFIG_FILE, len(config), git_blob_sha1(config))},
        )
        (folder / METADATA_FILE).write_bytes(record.to_bytes())


def test_a_long_list_is_printed_plain_even_on_a_terminal(run: Run, store: Path) -> None:
    # Drawing 10,000 rows with rich took 6 s; past 1,000 the aligned text is printed.
    _fill(store, 1001)
    table = run("list-local-models", env={"TTY_COMPATIBLE": "1", "COLUMNS": "200"})
    header, *rows = table.stdout.splitlines()
    assert header.split()[:2] == ["MODEL", "REVISION"]
    assert len(rows) == 1001 and rows[0].split()[0] == "org/model-0000"


def test_json_has_one_model_a_line(run: Run, store: Path) -> None:
    _fill(store, 3)
    out = run("list-local-models", "--json").stdout.splitlines()
    assert out[0] == "[" and out[-1] == "]"
    models = [json.loads(line.rstrip(",")) for line in out[1:-1]]
    assert [m["model_id"] for m in models] == ["org/model-0000", "org/model-0001", "org/model-0002"]
