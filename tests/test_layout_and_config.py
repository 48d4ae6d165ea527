"""Names, folders and settings: the HG-Localization layout and the HGLOC_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgloc import Config, HGLocalizationConfig
from hgloc.errors import IndexCorruptError, InvalidModelIdError
from hgloc.layout import (
    FileRecord,
    ModelRecord,
    bucket_id,
    bucket_model_prefix,
    local_model_prefix,
    safe_name,
    validate_model_id,
    validate_revision,
)

BAD_IDS = [
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a//b",
    "a/b/c",
    "x" * 300,
    "a\x00b",
    "",
    "org/na me",
    "org/n\u0430me",  # a Cyrillic look-alike of "a"
    "org/name%2F..",
    "-lead",
    "a--b/c",
    "a\\b",
    ".hidden",
]


def test_safe_name_matches_hg_localization() -> None:
    assert safe_name("microsoft/DialoGPT-medium") == "microsoft_DialoGPT-medium"
    assert safe_name('a b:c*d?e"f<g>h|i\\j') == "a_b_c_d_e_f_g_h_i_j"


@pytest.mark.parametrize("model_id", BAD_IDS)
def test_bad_model_ids_are_refused_with_a_clear_error(model_id: str) -> None:
    with pytest.raises(InvalidModelIdError) as info:
        validate_model_id(model_id)
    assert isinstance(info.value, ValueError)
    assert "org/name" in str(info.value)


@pytest.mark.parametrize("model_id", ["gpt2", "openai-community/gpt2", "a/b.c_d-e", "A1/x.y"])
def test_good_model_ids(model_id: str) -> None:
    assert validate_model_id(model_id) == model_id


@pytest.mark.parametrize(
    "revision", ["../x", "/etc/passwd", "a/../../b", "a//b", "r" * 300, "a\x00b", "", "v 1"]
)
def test_bad_revisions(revision: str) -> None:
    with pytest.raises(InvalidModelIdError, match="revision"):
        validate_revision(revision)


@pytest.mark.parametrize("revision", ["main", "v1.0", "refs/pr/1", "a" * 40, None])
def test_good_revisions(revision: str | None) -> None:
    assert validate_revision(revision) == revision


def test_folder_layouts() -> None:
    assert local_model_prefix("org/m", None) == "org_m/default_revision"
    assert local_model_prefix("org/m", "refs/pr/1") == "org_m/refs_pr_1"
    assert local_model_prefix("gpt2", "main", bucket_folder="b") == "by_bucket/b/gpt2/main"
    assert local_model_prefix("gpt2", None, public=True) == "public/gpt2/default_revision"
    assert bucket_model_prefix("org/m", "v1", data_prefix="/team/") == "team/models/org_m/v1"
    assert bucket_model_prefix("org/m", None) == "models/org_m/default_revision"
    assert bucket_id("my.bucket", None) == "my.bucket"
    assert bucket_id("b", "http://127.0.0.1:9000").startswith("b_")


def test_model_record_round_trip_keeps_documented_fields() -> None:
    import json

    record = ModelRecord(
        model_id="org/m",
        revision=None,
        commit="a" * 40,
        files={"config.json": FileRecord("config.json", 3, sha1="b" * 40)},
        s3_bucket_name="bkt",
    )
    raw = record.to_bytes()
    data = json.loads(raw)
    for key in ("s3_bucket_name", "s3_endpoint_url", "s3_data_prefix", "cached_timestamp"):
        assert key in data
    assert data["type"] == "model"
    assert data["is_public"] is False
    assert ModelRecord.from_bytes(raw, where="x") == record


def test_damaged_record_names_the_file() -> None:
    with pytest.raises(IndexCorruptError, match="here/meta"):
        ModelRecord.from_bytes(b"{not json", where="here/meta")


def test_config_from_env_reads_hgloc_variables(tmp_path: Path) -> None:
    env = {
        "HGLOC_MODELS_STORE_PATH": str(tmp_path),
        "HGLOC_S3_BUCKET_NAME": "team",
        "HGLOC_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "HGLOC_AWS_ACCESS_KEY_ID": "AKIA",
        "HGLOC_AWS_SECRET_ACCESS_KEY": "shh-secret",
        "HGLOC_S3_DATA_PREFIX": "/data/",
        "HGLOC_DEFAULT_REVISION_NAME": "latest",
    }
    config = Config.from_env(env)
    assert config.store_path == tmp_path
    assert config.s3_bucket_name == "team"
    assert config.s3_data_prefix == "data"
    assert config.default_revision_name == "latest"
    assert "shh-secret" not in repr(config)
    assert Config.from_env(env, s3_bucket_name="other").s3_bucket_name == "other"


def test_documented_config_name_and_keywords(tmp_path: Path) -> None:
    config = HGLocalizationConfig(models_store_path=str(tmp_path), s3_bucket_name="my-bucket")
    assert isinstance(config, Config)
    assert config.store_path == tmp_path


def test_default_store_is_the_user_cache_not_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import hgloc

    path = Config().store_path
    assert path.name == "models" and "hgloc" in str(path)
    assert Path(hgloc.__file__).parent not in path.parents


def test_hub_settings_come_from_hf_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1/")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    config = Config()
    assert config.endpoint == "http://127.0.0.1:1"
    assert config.is_offline
    assert config.token() == "hf_from_env"
    assert Config(hf_token="explicit").token() == "explicit"
    assert "hf_from_env" not in repr(config) and "explicit" not in repr(Config(hf_token="explicit"))
