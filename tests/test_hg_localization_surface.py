"""HG-Localization's documented surface, served by hgloc: each bullet of the issue, one test.

Config arguments and names, the modules people import, the console script,
the failure values without a bucket, renamed repos (aliases), and models
cached before a bucket was configured.
"""

from __future__ import annotations

import inspect
import json
import logging
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hg_localization_store import write_store

import hg_localization
import hg_localization.cli
import hg_localization.config
import hg_localization.model_manager
import hgloc.config
from hgloc import Config, sync
from hgloc.cli import cli, main
from hgloc_testing import HubEmulator, MotoServer, Repo

ROOT = Path(__file__).resolve().parents[1]
HG_ARGS = [
    "s3_bucket_name",
    "s3_endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "s3_data_prefix",
    "datasets_store_path",
    "models_store_path",
    "default_config_name",
    "default_revision_name",
    "public_datasets_json_key",
    "public_datasets_zip_dir_prefix",
    "public_models_json_key",
    "private_datasets_index_key",
    "private_models_index_key",
]


# -- HGLocalizationConfig ----------------------------------------------------------------


def test_config_takes_hg_localizations_arguments_in_order(tmp_path: Path) -> None:
    params = list(inspect.signature(hg_localization.HGLocalizationConfig).parameters)
    assert params[:14] == HG_ARGS
    values = [
        "bucket", "http://s3.local", "key", "secret", "/team/", None, str(tmp_path),
        "default_config", "rev0", "public_datasets.json", "public_datasets_zip",
        "pub.json", "private_datasets_index.json", "priv.json",
    ]  # fmt: skip
    config = hg_localization.HGLocalizationConfig(*values)
    assert isinstance(config, Config)
    assert config.s3_bucket_name == "bucket" and config.s3_data_prefix == "team"
    assert config.store_path == tmp_path
    assert config.public_models_store_path == tmp_path / "public"
    assert (config.default_revision_name, config.public_models_json_key) == ("rev0", "pub.json")
    assert config.private_models_index_key == "priv.json"
    assert config.is_s3_configured() and config.has_credentials()
    assert not hg_localization.HGLocalizationConfig("bucket").is_s3_configured()
    assert not Config(s3_bucket_name="b", aws_access_key_id="k").is_s3_configured()


def test_dataset_arguments_are_ignored_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(hgloc.config, "_dataset_warning_given", False)
    caplog.set_level(logging.WARNING, logger="hgloc")
    for _ in range(2):
        config = hg_localization.HGLocalizationConfig(
            datasets_store_path=tmp_path, default_config_name="x", models_store_path=tmp_path
        )
    assert config.datasets_store_path == tmp_path and config.default_config_name == "x"
    warnings = [r for r in caplog.records if "hgloc handles models only" in r.getMessage()]
    assert len(warnings) == 1
    assert "datasets_store_path" in warnings[0].getMessage()


def test_models_store_path_none_reads_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HGLOC_MODELS_STORE_PATH", str(tmp_path))
    assert hg_localization.HGLocalizationConfig().store_path == tmp_path


# -- names and modules -------------------------------------------------------------------


def test_top_level_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert isinstance(hg_localization.default_config, hg_localization.HGLocalizationConfig)
    assert hg_localization.get_model_card_url("gpt2") == "https://huggingface.co/gpt2"
    assert hg_localization.DEFAULT_REVISION_NAME == "default_revision"
    assert hg_localization.PUBLIC_MODELS_JSON_KEY == "public_models.json"
    # The store default_config named when the package was imported.
    assert isinstance(hg_localization.MODELS_STORE_PATH, Path)
    for name in hg_localization.__all__:
        assert hasattr(hg_localization, name), name


def test_modules_people_import() -> None:
    functions = [
        "download_model_metadata", "get_cached_model_card_content",
        "get_cached_model_config_content", "get_model_card_content", "get_model_card_url",
        "get_model_config_content", "list_local_models", "list_s3_models",
        "sync_all_local_models_to_s3", "sync_local_model_to_s3",
    ]  # fmt: skip
    for name in functions:
        # hgloc.sync's blocking functions, in HG-Localization's positional order.
        function = getattr(hg_localization.model_manager, name)
        assert getattr(hg_localization, name) is function
        params = inspect.signature(function).parameters
        ours = inspect.signature(getattr(sync, name)).parameters
        assert set(params) - {"filter_by_bucket", "options"} <= set(ours), name
    config_names = [
        "HGLocalizationConfig", "default_config", "S3_BUCKET_NAME", "S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_DATA_PREFIX", "DATASETS_STORE_PATH",
        "DEFAULT_CONFIG_NAME", "DEFAULT_REVISION_NAME", "PUBLIC_DATASETS_JSON_KEY",
        "PUBLIC_DATASETS_ZIP_DIR_PREFIX", "PUBLIC_MODELS_JSON_KEY", "PRIVATE_DATASETS_INDEX_KEY",
        "PRIVATE_MODELS_INDEX_KEY",
    ]  # fmt: skip
    for name in config_names:
        assert hasattr(hg_localization.config, name), name
    commands = {
        "download_model_cmd": "download-model",
        "list_local_models_cmd": "list-local-models",
        "list_s3_models_cmd": "list-s3-models",
        "show_model_card_cmd": "show-model-card",
        "show_model_config_cmd": "show-model-config",
        "sync_local_model_to_s3_cmd": "sync-local-model-to-s3",
        "sync_all_local_models_to_s3_cmd": "sync-all-local-models-to-s3",
    }
    assert hg_localization.cli.cli is cli
    for name, command in commands.items():
        assert getattr(hg_localization.cli, name) is cli.commands[command]


def test_list_local_models_signature() -> None:
    params = inspect.signature(hg_localization.list_local_models).parameters
    assert list(params)[:2] == ["config", "public_access_only"]
    assert params["config"].default is None and params["public_access_only"].default is False
    # HG-Localization's positional order for config elsewhere too.
    download = list(inspect.signature(hg_localization.download_model_metadata).parameters)
    assert download[:7] == [
        "model_id", "revision", "make_public", "skip_s3_upload", "config", "skip_hf_fetch",
        "metadata_only",
    ]  # fmt: skip
    sync_all = list(inspect.signature(hg_localization.sync_all_local_models_to_s3).parameters)
    assert sync_all[:2] == ["make_public", "config"]
    one = list(inspect.signature(hg_localization.sync_local_model_to_s3).parameters)
    assert one == ["model_id", "revision", "make_public", "config"]
    for name in ("get_cached_model_card_content", "get_cached_model_config_content"):
        params = list(inspect.signature(getattr(hg_localization, name)).parameters)
        assert params == ["model_id", "revision", "config"]
    assert list(inspect.signature(hg_localization.list_s3_models).parameters) == ["config"]


def test_config_passed_positionally(tmp_path: Path) -> None:
    store = write_store(tmp_path / "store")
    config = Config(models_store_path=store.root, offline=True)
    ok, path = hg_localization.download_model_metadata("gpt2", None, False, True, config)
    assert ok and path == str(store.root / "gpt2" / "default_revision")
    assert hg_localization.list_local_models(config, True)[0]["is_public"] is True
    assert hg_localization.get_cached_model_card_content("gpt2", None, config)


def test_hg_localize_console_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = pyproject["project"]["scripts"]
    assert scripts["hg-localize"] == "hg_localization.cli:main"
    module, _, attr = scripts["hg-localize"].partition(":")
    assert getattr(__import__(module, fromlist=[attr]), attr) is main
    result = CliRunner().invoke(cli, ["--help"], prog_name="hg-localize")
    assert result.exit_code == 0
    for command in ("download-model", "list-local-models", "show-model-config", "adopt"):
        assert command in result.stdout


# -- no bucket ---------------------------------------------------------------------------


def test_without_a_bucket_functions_return_their_failure_values(tmp_path: Path) -> None:
    store = write_store(tmp_path / "store")
    config = Config(models_store_path=store.root, offline=True)
    assert hg_localization.list_s3_models(config) == []
    ok, message = hg_localization.sync_local_model_to_s3("gpt2", None, False, config)
    assert not ok and "HGLOC_S3_BUCKET_NAME" in message
    report = hg_localization.sync_all_local_models_to_s3(False, config)
    assert report.results and not report.ok
    assert all("HGLOC_S3_BUCKET_NAME" in (r.error or "") for r in report.results)


# -- renamed repos -------------------------------------------------------------------------

RENAMES = {"gpt2": "openai-community/gpt2"}
FILES = {"README.md": b"---\nlicense: mit\n---\n# gpt2\n", "config.json": b'{"n_layer": 12}'}


@pytest.fixture(scope="module")
def renaming_hub() -> Iterator[str]:
    hub = HubEmulator([Repo("openai-community/gpt2", [FILES])], renames=RENAMES)
    with hub.run_in_thread() as url:
        yield url


def _env(url: str, store: Path, **extra: str) -> dict[str, str]:
    return {
        "HF_ENDPOINT": url,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HGLOC_MODELS_STORE_PATH": str(store),
        **extra,
    }


def _invoke(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_old_name_finds_a_model_prefetched_under_its_new_name(
    renaming_hub: str, tmp_path: Path
) -> None:
    env = _env(renaming_hub, tmp_path)
    assert _invoke(env, "prefetch", "openai-community/gpt2").exit_code == 0
    shown = _invoke(env, "show-model-config", "gpt2", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {"n_layer": 12}
    # Recorded: offline, either name finds it.
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    for name in ("gpt2", "openai-community/gpt2"):
        shown = _invoke(offline, "show-model-config", name, "--json")
        assert shown.exit_code == 0, shown.output
        assert _invoke(offline, "download-model", name).exit_code == 0
    config = Config(models_store_path=tmp_path, offline=True)
    assert sync.get_cached_model_card_content("gpt2", config=config) == FILES["README.md"].decode()


def test_new_name_finds_a_model_downloaded_under_its_old_name(
    renaming_hub: str, tmp_path: Path
) -> None:
    env = _env(renaming_hub, tmp_path)
    assert _invoke(env, "download-model", "gpt2").exit_code == 0
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    shown = _invoke(offline, "show-model-config", "openai-community/gpt2", "--json")
    assert shown.exit_code == 0, shown.output
    config = Config(models_store_path=tmp_path, offline=True)
    got = sync.get_cached_model_config_content("openai-community/gpt2", config=config)
    assert got == {"n_layer": 12}
    # HG-Localization's listing skips the alias file (a name starting with '.').
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["gpt2"]


# -- a bucket configured later -------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    pytest.importorskip("aiobotocore")
    with MotoServer() as server:
        yield server


def test_models_cached_before_a_bucket_stay_visible_and_sync(
    renaming_hub: str, tmp_path: Path, moto: MotoServer
) -> None:
    env = _env(renaming_hub, tmp_path)
    assert _invoke(env, "download-model", "openai-community/gpt2").exit_code == 0
    bucket = moto.create_bucket(f"later-{uuid.uuid4().hex[:8]}")
    with_bucket = {
        **env,
        "HGLOC_S3_BUCKET_NAME": bucket,
        "HGLOC_S3_ENDPOINT_URL": moto.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": moto.access_key_id,
        "HGLOC_AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
    }
    listed = _invoke(with_bucket, "list-local-models", "--json")
    assert listed.exit_code == 0
    assert [m["model_id"] for m in json.loads(listed.stdout)] == ["openai-community/gpt2"]
    shown = _invoke(with_bucket, "show-model-config", "openai-community/gpt2", "--json")
    assert shown.exit_code == 0, shown.output
    synced = _invoke(with_bucket, "sync-all-local-models-to-s3")
    assert synced.exit_code == 0, synced.output
    assert "nothing to upload" not in synced.output
    in_bucket = _invoke(with_bucket, "list-s3-models", "--json")
    assert "openai-community/gpt2" in in_bucket.stdout
    # Offline with the bucket set, the old folder still answers.
    offline = {**with_bucket, "HF_HUB_OFFLINE": "1"}
    assert _invoke(offline, "download-model", "openai-community/gpt2").exit_code == 0
