"""A store written by HG-Localization, used through hgloc's public API and commands.

The store comes from ``hg_localization_store.write_store`` (HG-Localization's
layout, file names and metadata bytes); every documented function and command
runs against it: list, card, config, serve (stock huggingface_hub), offline
download, verify, adopt, sync to a moto bucket.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hg_localization_store import (
    METADATA_FILE,
    WrittenStore,
    hg_localization_listing,
    write_store,
)
from hub_fixtures import hf_subprocess_env

import hg_localization
from hgloc import Config, sync
from hgloc.cli import cli
from hgloc_testing import MotoServer

SRC = Path(__file__).resolve().parents[1] / "src"
HG_KEYS = ["s3_bucket_name", "s3_endpoint_url", "s3_data_prefix", "cached_timestamp", "is_public"]
LISTING_KEYS = [
    "model_id",
    "revision",
    "path",
    "has_card",
    "has_config",
    "has_tokenizer",
    "is_full_model",
    "is_public",
]
AMBIGUOUS = "team-org_model_v2/default_revision"


@pytest.fixture
def store(tmp_path: Path) -> WrittenStore:
    return write_store(tmp_path / "models_store")


def _config(store: WrittenStore, **extra: Any) -> Config:
    return Config(models_store_path=store.root, offline=True, **extra)


def _hg_view(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HG-Localization's 8 keys of each dict, sorted."""
    return sorted(
        ({k: m[k] for k in LISTING_KEYS} for m in models),
        key=lambda m: (m["model_id"], m["revision"] or "", m["is_public"]),
    )


def _run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


# -- list ------------------------------------------------------------------------------


def test_listed_as_hg_localization_lists_it(store: WrittenStore) -> None:
    got = hg_localization.list_local_models(_config(store))
    expected = hg_localization_listing(store.root, bucket_configured=False)
    assert _hg_view(got) == _hg_view(expected)
    by_id = {m["model_id"]: m for m in got}
    assert by_id["team-org_model/v2"]["ambiguous"] is True
    assert not any(m["ambiguous"] for m in got if m["model_id"] != "team-org_model/v2")
    assert "ghost-org/missing" not in by_id  # the metadata file alone: not a model
    full = by_id["openai-community/gpt2"]
    assert full["is_full_model"] and full["has_tokenizer"] and full["revision"] == "main"


def test_public_access_only(store: WrittenStore) -> None:
    got = hg_localization.list_local_models(_config(store), public_access_only=True)
    expected = hg_localization_listing(store.root, bucket_configured=False, public_access_only=True)
    assert _hg_view(got) == _hg_view(expected)


def test_listed_with_its_bucket(store: WrittenStore) -> None:
    """With the bucket configured: its folders, and those cached before it was configured.

    HG-Localization also lists the folders of other buckets; hgloc does not
    (docs/migrating.md): they belong to another bucket setting.
    """
    config = _config(store, s3_bucket_name=store.bucket, s3_endpoint_url=store.endpoint_url)
    got = hg_localization.list_local_models(config)
    expected = [
        m
        for m in hg_localization_listing(store.root, bucket_configured=True)
        if "/by_bucket/other-bucket/" not in m["path"]
    ]
    assert _hg_view(got) == _hg_view(expected)


def test_ambiguous_folder_is_warned_about_once(
    store: WrittenStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hgloc")
    for _ in range(3):
        sync.list_local_models(config=_config(store))
    warnings = [r.getMessage() for r in caplog.records if "team-org_model_v2" in r.getMessage()]
    assert len(warnings) == 1
    (warning,) = warnings
    folder = str(store.root / AMBIGUOUS)
    assert f"hgloc adopt {folder} MODEL_ID" in warning
    assert "'team-org/model_v2'" in warning and "'team-org_model/v2'" in warning


# -- adoption --------------------------------------------------------------------------


def test_unambiguous_folders_are_adopted_keeping_hg_localizations_keys(
    store: WrittenStore,
) -> None:
    before = {f.relpath: (store.root / f.relpath / METADATA_FILE) for f in store.folders}
    original = {k: json.loads(p.read_bytes()) for k, p in before.items() if p.exists()}
    sync.list_local_models(config=_config(store))
    bucket = {"s3_bucket_name": store.bucket, "s3_endpoint_url": store.endpoint_url}
    sync.list_local_models(config=_config(store, **bucket))
    for folder in store.folders:
        path = store.root / folder.relpath / METADATA_FILE
        seen = folder.bucket_folder in (None, store.bucket_folder)
        if folder.ambiguous or not folder.listed or not seen:
            if path.exists():
                assert json.loads(path.read_bytes()) == original[folder.relpath]  # untouched
            continue
        data = json.loads(path.read_bytes())
        if folder.relpath in original:
            # HG-Localization's keys first, in its order, with its values.
            assert list(data)[:6] == [*HG_KEYS, "type"]
            assert {k: data[k] for k in original[folder.relpath]} == original[folder.relpath]
        assert data["model_id"] == folder.true_model_id
        assert data["revision"] == folder.true_revision
        assert data["hashes_source"] == "local"
        assert data["commit"] is None
        files = data["files"]
        assert set(files) == set(folder.files) - {METADATA_FILE}
        for name, rec in files.items():
            size = (store.root / folder.relpath / name).stat().st_size
            assert rec["size"] == size
            assert ("sha256" in rec) == name.endswith(".safetensors"), name
            assert ("git_sha1" in rec) != ("sha256" in rec)
    # HG-Localization reads the store as before.
    for bucket in (False, True):
        after = hg_localization_listing(store.root, bucket_configured=bucket)
        assert {f.shown_model_id for f in store.folders if f.listed} >= {
            m["model_id"] for m in after
        }


def test_adopt_names_an_ambiguous_folder(
    store: WrittenStore, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(store)
    # Read under the true id before adoption: refused, saying how to fix it.
    ok, message = sync.download_model_metadata("team-org/model_v2", config=config)
    assert not ok and f"hgloc adopt {store.root / AMBIGUOUS} team-org/model_v2" in message
    result = _run("--store", str(store.root), "adopt", str(store.root / AMBIGUOUS), "x/y")
    assert result.exit_code == 2 and "cannot hold 'x/y'" in result.output
    result = _run("--store", str(store.root), "adopt", AMBIGUOUS, "team-org/model_v2")
    assert result.exit_code == 0, result.output
    assert "team-org/model_v2" in result.output
    meta = json.loads((store.root / AMBIGUOUS / METADATA_FILE).read_bytes())
    assert meta["model_id"] == "team-org/model_v2" and meta["hashes_source"] == "local"
    assert meta["cached_timestamp"] == "1749455312.8071036"  # HG-Localization's value kept
    caplog.clear()
    listed = {m["model_id"]: m for m in sync.list_local_models(config=config)}
    assert "team-org/model_v2" in listed and "team-org_model/v2" not in listed
    assert listed["team-org/model_v2"]["ambiguous"] is False
    assert not [r for r in caplog.records if "team-org_model_v2" in r.getMessage()]
    card = sync.get_cached_model_card_content("team-org/model_v2", config=config)
    assert card is not None and card.startswith("# team-org/model_v2")
    # HG-Localization still lists the folder (under its guess): its keys are intact.
    hg = hg_localization_listing(store.root, bucket_configured=False)
    assert "team-org_model/v2" in {m["model_id"] for m in hg}


def test_adopt_from_python_and_revision_checks(store: WrittenStore) -> None:
    config = _config(store)
    model = sync.adopt(
        store.root / "openai-community_gpt2", "openai-community/gpt2", "main", config=config
    )
    assert (model.model_id, model.revision, model.is_full_model) == (
        "openai-community/gpt2",
        "main",
        True,
    )
    with pytest.raises(ValueError, match="cannot hold revision"):
        sync.adopt("gpt2/default_revision", "gpt2", "v2", config=config)
    with pytest.raises(ValueError, match="not a folder inside the store"):
        sync.adopt("/", "gpt2", config=config)


# -- read ------------------------------------------------------------------------------


def test_card_and_config_of_every_listed_model(store: WrittenStore) -> None:
    plain = _config(store)
    bucket = _config(store, s3_bucket_name=store.bucket, s3_endpoint_url=store.endpoint_url)
    for folder in store.folders:
        if not folder.listed or folder.ambiguous or folder.bucket_folder == "other-bucket":
            continue
        config = bucket if folder.bucket_folder else plain
        model_id, rev = folder.shown_model_id, folder.shown_revision
        card = hg_localization.get_cached_model_card_content(model_id, rev, config)
        assert card == (store.root / folder.relpath / "model_card.md").read_text()
        got = hg_localization.get_cached_model_config_content(model_id, rev, config)
        assert got == json.loads((store.root / folder.relpath / "config.json").read_bytes())
    # The ambiguous folder answers under the id it is listed under.
    assert hg_localization.get_cached_model_config_content("team-org_model/v2", None, plain)


def test_cli_reads_it(store: WrittenStore) -> None:
    env = {"HGLOC_MODELS_STORE_PATH": str(store.root), "HF_HUB_OFFLINE": "1"}
    listing = _run("list-local-models", "--json", env=env)
    assert listing.exit_code == 0
    ids = {m["model_id"] for m in json.loads(listing.stdout)}
    assert {"gpt2", "microsoft/DialoGPT-medium", "HuggingFaceTB/SmolLM2-135M"} <= ids
    shown = _run("show-model-config", "microsoft/DialoGPT-medium", "--json", env=env)
    assert shown.exit_code == 0 and json.loads(shown.stdout)["model_type"] == "fake"
    card = _run("show-model-card", "gpt2", env=env)
    assert card.exit_code == 0 and "# gpt2" in card.stdout


def test_offline_download_finds_it(store: WrittenStore) -> None:
    env = {
        "HGLOC_MODELS_STORE_PATH": str(store.root),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(SRC),
    }
    for args in (
        ["download-model", "microsoft/DialoGPT-medium"],
        ["download-model", "openai-community/gpt2", "-r", "main", "--full-model"],
        ["download-model", "HuggingFaceTB/SmolLM2-135M", "--full-model"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "hg_localization.cli", *args],
            env={**_base_env(), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        assert "already cached" in proc.stdout


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("HGLOC_", "HF_"))}


def test_verify_checks_the_bytes(store: WrittenStore) -> None:
    env = {"HGLOC_MODELS_STORE_PATH": str(store.root), "HF_HUB_OFFLINE": "1"}
    result = _run("verify", env=env)
    assert result.exit_code == 0, result.output
    assert "0 damaged" in result.stdout
    (store.root / "gpt2/default_revision/config.json").write_bytes(b"{}")
    result = _run("verify", "gpt2", env=env)
    assert result.exit_code == 1 and "DAMAGED" in result.output


def test_refresh_replaces_local_hashes_with_the_hubs(store: WrittenStore, tmp_path: Path) -> None:
    from hgloc_testing import HubEmulator, Repo

    files = {"README.md": b"---\nlicense: mit\n---\n# DialoGPT\n", "config.json": b"{}"}
    hub = HubEmulator([Repo("microsoft/DialoGPT-medium", [files])])
    with hub.run_in_thread() as url:
        config = Config(models_store_path=store.root, hf_endpoint=url, offline=False)
        sync.list_local_models(config=config)  # adopts it
        ok, path = sync.download_model_metadata(
            "microsoft/DialoGPT-medium", config=config, refresh=True
        )
    assert ok, path
    meta = json.loads((Path(path) / METADATA_FILE).read_bytes())
    assert "hashes_source" not in meta and len(meta["commit"]) == 40


# -- serve -----------------------------------------------------------------------------


@pytest.fixture
def served(store: WrittenStore) -> Iterator[str]:
    pytest.importorskip("uvicorn")
    from hgloc.serve import create_app
    from hgloc_testing import run_asgi_in_thread

    app = create_app(_config(store))
    with run_asgi_in_thread(app, name="hgloc-serve", lifespan="on") as url:
        yield url


def test_served_to_stock_huggingface_hub(served: str, tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from huggingface_hub import hf_hub_download\n"
        "for repo, rev in [('microsoft/DialoGPT-medium', None), ('gpt2', None),"
        " ('openai-community/gpt2', 'main'), ('team-org_model/v2', None)]:\n"
        "    path = hf_hub_download(repo, 'config.json', revision=rev)\n"
        "    print(repo, json.load(open(path))['model_type'])\n"
        "path = hf_hub_download('openai-community/gpt2', 'model.safetensors', revision='main')\n"
        "print('weights', open(path, 'rb').read(8).hex())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=hf_subprocess_env(served, tmp_path / "hf_home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(" fake\n") == 4
    assert "weights " in proc.stdout


# -- sync ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    pytest.importorskip("aiobotocore")
    with MotoServer() as server:
        yield server


def test_synced_to_a_bucket(tmp_path: Path, moto: MotoServer) -> None:
    bucket = moto.create_bucket(f"hgl-{uuid.uuid4().hex[:8]}")
    store = write_store(tmp_path / "store", bucket=bucket, endpoint_url=moto.endpoint_url)
    config = hg_localization.HGLocalizationConfig(
        bucket,
        moto.endpoint_url,
        moto.access_key_id,
        moto.secret_access_key,
        "team",
        models_store_path=store.root,
        offline=True,
    )
    report = hg_localization.sync_all_local_models_to_s3(False, config)
    assert report.ok, [r.error for r in report.results if not r.ok]
    uploaded = {r.model_id for r in report.results}
    # This bucket's folders, and those cached before a bucket was configured.
    assert {"google-bert/bert-base-uncased", "EleutherAI/pythia-14m", "gpt2"} <= uploaded
    assert {"microsoft/DialoGPT-medium", "openai-community/gpt2"} <= uploaded
    assert "distilbert/distilgpt2" not in uploaded  # another bucket's folder
    in_bucket = {(m["model_id"], m["revision"]) for m in hg_localization.list_s3_models(config)}
    assert ("openai-community/gpt2", "main") in in_bucket
    assert ("microsoft/DialoGPT-medium", None) in in_bucket
    ok, message = hg_localization.sync_local_model_to_s3("gpt2", None, False, config)
    assert ok, message
    # A second machine reads it back from the bucket.
    reader = Config(
        models_store_path=tmp_path / "reader",
        s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url,
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
        s3_data_prefix="team",
        offline=True,
    )
    ok, path = sync.download_model_metadata("microsoft/DialoGPT-medium", config=reader)
    assert ok, path
    assert sync.get_cached_model_card_content("microsoft/DialoGPT-medium", config=reader)
