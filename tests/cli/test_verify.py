"""`hgloc verify` as a user runs it: intact store, a flipped byte, --repair, --json."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Run


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0x20
    path.write_bytes(bytes(data))


def test_verify_catches_and_repairs_a_flipped_byte(run: Run, store: Path) -> None:
    assert run("download-model", "hgloc-test/config-nan").exit_code == 0
    intact = run("verify")
    assert intact.exit_code == 0, intact.output
    assert "ok       hgloc-test/config-nan (2 files" in intact.stdout
    assert "0 damaged" in intact.stdout

    config = store / "hgloc-test_config-nan" / "default_revision" / "config.json"
    original = config.read_bytes()
    _flip(config)
    damaged = run("verify", "hgloc-test/config-nan")
    assert damaged.exit_code == 1
    assert "DAMAGED  hgloc-test/config-nan" in damaged.stderr
    assert "config.json" in damaged.stderr and "--repair" in damaged.stderr

    repaired = run("verify", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "REPAIRED hgloc-test/config-nan" in repaired.stdout
    assert config.read_bytes() == original


def test_verify_json_report(run: Run) -> None:
    assert run("download-model", "hgloc-test/card-only").exit_code == 0
    result = run("verify", "--json")
    report = json.loads(result.stdout)
    assert report["models"] == 1 and report["damaged"] == 0
    assert report["results"][0]["model_id"] == "hgloc-test/card-only"
    assert report["results"][0]["ok"] is True


def test_verify_bad_id_is_usage_error(run: Run, store: Path) -> None:
    result = run("verify", "../etc")
    assert result.exit_code == 2
    assert not store.exists()
