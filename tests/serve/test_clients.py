"""Stock clients pointed at ``hgloc serve`` with HF_ENDPOINT: they get the stored bytes.

One child process per store (local folder, moto bucket) runs every check
(huggingface_hub downloads, snapshot, model info, cards, errors, and
transformers' Auto classes) with an audit hook that records any connection
to anything but the server. Both run at once to keep the suite short.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hub_fixtures
import pytest

from hgloc_testing import HubEmulator

from .conftest import (
    CARD_V2,
    CARDS,
    CONFIG_V1,
    LEGACY_CONFIG,
    TINY,
    Store,
    running,
    s3_missing_reason,
)

HERE = Path(__file__).resolve().parent
CHECKS = ["downloads", "snapshot", "info", "card", "errors", "auto_config", "auto_model"]
KINDS = ["local", "s3"]


@pytest.fixture(scope="module")
def results(
    request: pytest.FixtureRequest,
    upstream: HubEmulator,
    tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, dict[str, Any]]]:
    """``{kind: the child's JSON}`` for each store kind that can run here."""
    kinds = [k for k in KINDS if k != "s3" or s3_missing_reason() is None]
    stores: dict[str, Store] = {k: request.getfixturevalue(f"{k}_store") for k in kinds}
    cards = upstream.repos[CARDS]
    out: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        procs = {}
        for kind, store in stores.items():
            url = stack.enter_context(running(store.app()))
            home = tmp_path_factory.mktemp(f"hf-home-{kind}")
            args = {
                "url": url,
                "tiny_dir": str(tiny_model_dir),
                "cards_v1": cards.commit_sha(cards.tags["v1.0"]),
                "checks": CHECKS,
            }
            env = hub_fixtures.hf_subprocess_env(url, home)
            env.pop("HF_HUB_OFFLINE", None)
            env.pop("HF_HUB_DISABLE_XET", None)  # as users run it: hf-xet installed, enabled
            env.pop("TRANSFORMERS_OFFLINE", None)
            procs[kind] = subprocess.Popen(
                [sys.executable, str(HERE / "_client_checks.py"), json.dumps(args)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        for kind, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr[-3000:]
            out[kind] = json.loads(stdout.strip().splitlines()[-1])
    yield out


@pytest.fixture(params=KINDS)
def result(request: pytest.FixtureRequest, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if request.param not in results:
        pytest.skip(s3_missing_reason() or "not run")
    return results[request.param]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ok(result: dict[str, Any], check: str) -> Any:
    value = result[check]
    assert not (isinstance(value, dict) and "error" in value), value
    return value


def test_no_connection_but_to_the_server(result: dict[str, Any]) -> None:
    assert result["endpoint"].startswith("http://127.0.0.1:")
    assert result["elsewhere"] == []


def test_hf_hub_download_returns_the_stored_bytes(
    result: dict[str, Any], upstream: HubEmulator, tiny_model_dir: Path
) -> None:
    got = ok(result, "downloads")
    assert got["config"] == sha256((tiny_model_dir / "config.json").read_bytes())
    assert got["weights"] == sha256((tiny_model_dir / "model.safetensors").read_bytes())
    assert got["nested"] == sha256(b'{"deep": true}\n')
    assert got["card_main"] == sha256(CARD_V2)
    assert got["config_tag"] == got["config_commit"] == sha256(CONFIG_V1)
    assert got["legacy"] == sha256(LEGACY_CONFIG)


def test_snapshot_download_gets_every_file(result: dict[str, Any], tiny_model_dir: Path) -> None:
    expected = {
        p.relative_to(tiny_model_dir).as_posix(): sha256(p.read_bytes())
        for p in tiny_model_dir.rglob("*")
        if p.is_file()
    }
    assert ok(result, "snapshot") == expected


def test_model_info(result: dict[str, Any], upstream: HubEmulator, tiny_model_dir: Path) -> None:
    got = ok(result, "info")
    tiny, cards = upstream.repos[TINY], upstream.repos[CARDS]
    assert got["id"] == TINY and got["sha"] == tiny.commit_sha(tiny.head())
    weights = (tiny_model_dir / "model.safetensors").read_bytes()
    assert ["model.safetensors", len(weights), sha256(weights)] in got["siblings"]
    assert len(got["siblings"]) == len(tiny.commits[0])
    assert got["meta_sha"] == cards.commit_sha(cards.tags["v1.0"])
    assert got["meta_siblings"] == ["README.md", "config.json"]
    assert got["card_data_license"] == "cc-by-4.0"


def test_model_card_load(result: dict[str, Any]) -> None:
    got = ok(result, "card")
    assert got["license"] == "mit"
    assert got["tags"] == ["hgloc", "text-classification"]
    assert "été 🌍" in got["text"]


def test_errors_are_the_hub_exceptions(result: dict[str, Any]) -> None:
    assert ok(result, "errors") == {
        "repo": "RepositoryNotFoundError",
        "revision": "RevisionNotFoundError",
        "entry": "RemoteEntryNotFoundError",
        "info_repo": "RepositoryNotFoundError",
    }


def test_auto_config(result: dict[str, Any]) -> None:
    assert ok(result, "auto_config") == {
        "cards": ["bert", 32],
        "tagged": ["bert", 16],
        "tiny": ["bert", 16, 1],
    }


def test_auto_model_and_tokenizer_of_a_full_model(result: dict[str, Any]) -> None:
    got = ok(result, "auto_model")
    assert got["class"] == "BertModel"
    assert got["same_weights"] is True
    assert got["ids"] == got["reference_ids"]
    assert got["ids"][0] == 2 and got["ids"][-1] == 3  # [CLS] ... [SEP]
    assert 1 not in got["ids"]  # no [UNK]: the vocabulary came through
    assert got["hidden"] == [1, len(got["ids"]), 16]
