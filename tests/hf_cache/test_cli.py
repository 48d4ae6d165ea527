"""``hgloc export`` / ``hgloc import`` on the command line: lists, reports, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hgloc.cli import cli
from hgloc.hf_cache._layout import repo_folder

from .conftest import CARDS, TINY


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_export_from_a_list_then_import_it(filled_store: Path, tmp_path: Path) -> None:
    listing = tmp_path / "models.txt"
    listing.write_text(f"# what the training node needs\n{TINY}\n{CARDS}@v1.0\n")
    cache = tmp_path / "hub"
    code, out, err = run(
        "--store", str(filled_store), "export", "-f", str(listing), "--to", str(cache)
    )
    assert code == 0, err
    assert f"ok      {TINY}" in out and "full model" in out
    assert f"{CARDS}@v1.0" in out and "card and config" in out
    assert f"HF_HUB_CACHE={cache}" in err or f"HF_HUB_CACHE={cache}" in out

    # One blob flipped: import says which snapshot and why, and exits 1.
    blobs = cache / repo_folder(CARDS) / "blobs"
    config_blob = next(b for b in blobs.iterdir() if b"hidden_size" in b.read_bytes())
    config_blob.write_bytes(config_blob.read_bytes().replace(b"16", b"61"))
    store = tmp_path / "store"
    code, out, err = run("--store", str(store), "import", str(cache), "--json")
    assert code == 1
    report = json.loads(out)
    statuses = {m["ref"]: m["status"] for m in report["models"]}
    assert statuses == {TINY: "imported", f"{CARDS}@v1.0": "damaged"}
    assert "DAMAGED" in err and "config.json" in err


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    code, _, err = run("export", "not a model", "--to", str(tmp_path))
    assert code == 2 and "argument 1" in err
    code, _, err = run("import")
    assert code == 2 and "HF_CACHE_DIR" in err
    code, _, err = run("import", str(tmp_path), "--commit", "a" * 40)
    assert code == 2 and "--from" in err


def test_a_model_not_in_the_store_fails_the_export(tmp_path: Path) -> None:
    code, _, err = run(
        "--store", str(tmp_path / "empty"), "export", "org/absent", "--to", str(tmp_path / "hub")
    )
    assert code == 1 and "FAILED  org/absent" in err and "not in the store" in err
