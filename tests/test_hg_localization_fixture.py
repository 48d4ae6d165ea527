"""The HG-Localization store fixture writes what docs/hg-localization-reference.md describes.

These tests check the fixture itself (folder names, file names, metadata
bytes, HG-Localization's listing rule), not hgloc's handling of the store.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from hg_localization_store import (
    DEFAULT_REVISION_NAME,
    METADATA_FILE,
    WrittenStore,
    bucket_identifier,
    hg_localization_listing,
    metadata_bytes,
    safe_component,
    shown_model_id,
    write_bucket,
    write_store,
)

LISTING_KEYS = {
    "model_id",
    "revision",
    "path",
    "has_card",
    "has_config",
    "has_tokenizer",
    "is_full_model",
    "is_public",
}
METADATA_KEYS = [
    "s3_bucket_name",
    "s3_endpoint_url",
    "s3_data_prefix",
    "cached_timestamp",
    "is_public",
    "type",
]


@pytest.fixture
def store(tmp_path: Path) -> WrittenStore:
    return write_store(tmp_path / "models_store")


def test_names_follow_the_lossy_mapping() -> None:
    assert safe_component("microsoft/DialoGPT-medium") == "microsoft_DialoGPT-medium"
    assert safe_component('a\\b:c*d?e"f<g>h|i j') == "a_b_c_d_e_f_g_h_i_j"
    assert safe_component(None) == ""
    assert shown_model_id("microsoft_DialoGPT-medium") == "microsoft/DialoGPT-medium"
    assert shown_model_id("gpt2") == "gpt2"
    assert shown_model_id("a_b_c") == "a_b/c"
    assert shown_model_id("google_t5_xxl_true_nli_mixture") == "google_t5_xxl_true_nli/mixture"


def test_bucket_identifier() -> None:
    assert bucket_identifier("team-models", None) == "team-models"
    digest = hashlib.md5(b"http://127.0.0.1:9000", usedforsecurity=False).hexdigest()[:8]
    assert bucket_identifier("team models", "http://127.0.0.1:9000") == f"team_models_{digest}"


def test_layout_on_disk(store: WrittenStore) -> None:
    bid = store.bucket_folder
    expected = {
        "gpt2/default_revision",
        "microsoft_DialoGPT-medium/default_revision",
        "openai-community_gpt2/main",
        "team-org_model_v2/default_revision",
        "ghost-org_missing/default_revision",
        f"by_bucket/{bid}/google-bert_bert-base-uncased/v1.0",
        f"by_bucket/{bid}/EleutherAI_pythia-14m/default_revision",
        "by_bucket/other-bucket/distilbert_distilgpt2/default_revision",
        "public/HuggingFaceTB_SmolLM2-135M/default_revision",
        f"public/by_bucket/{bid}/Qwen_Qwen2.5-0.5B/default_revision",
        f"public/by_bucket/{bid}/BAAI_bge-small-en-v1.5/default_revision",
    }
    assert {f.relpath for f in store.folders} == expected
    for folder in store.folders:
        on_disk = sorted(p.name for p in (store.root / folder.relpath).iterdir())
        assert on_disk == list(folder.files), folder.relpath
        id_part, rev_part = folder.relpath.split("/")[-2:]
        assert id_part == safe_component(folder.true_model_id)
        assert rev_part == safe_component(folder.true_revision or DEFAULT_REVISION_NAME)
        assert folder.relpath.startswith("public/") == folder.is_public
        if folder.bucket_folder:
            assert f"by_bucket/{folder.bucket_folder}/" in folder.relpath


def test_metadata_files_are_byte_exact(store: WrittenStore) -> None:
    for folder in store.folders:
        path = store.root / folder.relpath / METADATA_FILE
        assert path.exists() == folder.has_metadata_file
        if not folder.has_metadata_file:
            continue
        raw = path.read_bytes()
        data = json.loads(raw)
        assert list(data) == METADATA_KEYS  # order as json.dump writes the dict
        assert "model_id" not in data and "revision" not in data
        assert data["type"] == "model"
        assert data["is_public"] is folder.is_public
        assert isinstance(data["cached_timestamp"], str)
        float(data["cached_timestamp"])  # an mtime, not an ISO date
        assert not raw.endswith(b"\n")
        assert raw == json.dumps(data, indent=2).encode()
        if folder.bucket_folder is None:
            assert (data["s3_bucket_name"], data["s3_endpoint_url"]) == (None, None)
            assert data["s3_data_prefix"] == ""
        else:
            bucket_id = bucket_identifier(data["s3_bucket_name"], data["s3_endpoint_url"])
            assert bucket_id == folder.bucket_folder


def test_metadata_bytes_without_bucket() -> None:
    raw = metadata_bytes(bucket=None, endpoint_url=None, data_prefix="", is_public=False)
    assert raw.startswith(b'{\n  "s3_bucket_name": null,\n  "s3_endpoint_url": null,')


def test_full_and_metadata_only_files(store: WrittenStore) -> None:
    for folder in store.folders:
        names = set(folder.files) - {METADATA_FILE}
        if folder.true_model_id == "ghost-org/missing":
            assert names == set()
            assert not folder.listed
        elif folder.is_full_model:
            assert {"config.json", "model_card.md", "model.safetensors"} <= names
            assert {"tokenizer.json", "tokenizer_config.json"} <= names
            assert folder.has_tokenizer
        else:
            assert names == {"config.json", "model_card.md"}
            assert not folder.has_tokenizer
            # json.dump(config, indent=2): no trailing newline
            assert not (store.root / folder.relpath / "config.json").read_bytes().endswith(b"\n")


def test_weights_are_valid_safetensors(store: WrittenStore) -> None:
    folder = store.folder("openai-community_gpt2/main")
    raw = (store.root / folder.relpath / "model.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    end = max(t["data_offsets"][1] for k, t in header.items() if k != "__metadata__")
    assert len(raw) == 8 + length + end


def test_one_ambiguous_folder_whose_shown_id_is_wrong(store: WrittenStore) -> None:
    (folder,) = store.ambiguous
    assert folder.folder_name == "team-org_model_v2"
    assert folder.shown_model_id == "team-org_model/v2"
    assert folder.true_model_id == "team-org/model_v2"
    for other in store.folders:
        if other is not folder and other.listed:
            assert other.shown_model_id == other.true_model_id, other.relpath


def _ids(listing: list[dict[str, object]]) -> set[tuple[object, object, object]]:
    return {(m["model_id"], m["revision"], m["is_public"]) for m in listing}


def test_listing_without_a_bucket(store: WrittenStore) -> None:
    listing = hg_localization_listing(store.root, bucket_configured=False)
    assert all(set(m) == LISTING_KEYS for m in listing)
    assert _ids(listing) == {
        ("HuggingFaceTB/SmolLM2-135M", None, True),
        ("gpt2", None, False),
        ("microsoft/DialoGPT-medium", None, False),
        ("openai-community/gpt2", "main", False),
        ("team-org_model/v2", None, False),
    }
    full = next(m for m in listing if m["model_id"] == "openai-community/gpt2")
    assert full["is_full_model"] and full["has_tokenizer"]
    assert full["path"] == str(store.root / "openai-community_gpt2" / "main")


def test_listing_with_a_bucket_shows_every_bucket_and_the_root(store: WrittenStore) -> None:
    listing = hg_localization_listing(store.root, bucket_configured=True)
    assert _ids(listing) == {
        ("HuggingFaceTB/SmolLM2-135M", None, True),
        ("Qwen/Qwen2.5-0.5B", None, True),
        ("BAAI/bge-small-en-v1.5", None, True),
        ("gpt2", None, False),
        ("microsoft/DialoGPT-medium", None, False),
        ("openai-community/gpt2", "main", False),
        ("team-org_model/v2", None, False),
        ("google-bert/bert-base-uncased", "v1.0", False),
        ("EleutherAI/pythia-14m", None, False),
        ("distilbert/distilgpt2", None, False),  # another bucket's folder: not filtered
    }
    expected = {
        (f.shown_model_id, f.shown_revision, f.is_public) for f in store.folders if f.listed
    }
    assert _ids(listing) == expected


def test_public_access_only(store: WrittenStore) -> None:
    assert _ids(
        hg_localization_listing(store.root, bucket_configured=False, public_access_only=True)
    ) == {("HuggingFaceTB/SmolLM2-135M", None, True)}
    listing = hg_localization_listing(store.root, bucket_configured=True, public_access_only=True)
    assert {m["model_id"] for m in listing} == {
        "HuggingFaceTB/SmolLM2-135M",
        "Qwen/Qwen2.5-0.5B",
        "BAAI/bge-small-en-v1.5",
    }


def test_public_copy_wins_over_private(store: WrittenStore) -> None:
    private = store.root / "HuggingFaceTB_SmolLM2-135M" / "default_revision"
    private.mkdir(parents=True)
    (private / "config.json").write_text("{}")
    listing = hg_localization_listing(store.root, bucket_configured=False)
    (entry,) = [m for m in listing if m["model_id"] == "HuggingFaceTB/SmolLM2-135M"]
    assert entry["is_public"] is True


class _Recorder:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def write(self, key: str, data: bytes) -> None:
        self.objects[key] = data


@pytest.mark.anyio
async def test_bucket_as_hg_localization_uploads_it(store: WrittenStore) -> None:
    bucket = _Recorder()
    await write_bucket(bucket, store)
    keys = set(bucket.objects)
    assert "models/google-bert_bert-base-uncased/v1.0/config.json" in keys
    assert f"models/EleutherAI_pythia-14m/default_revision/{METADATA_FILE}" in keys
    assert "models/Qwen_Qwen2.5-0.5B/default_revision/model_card.md" in keys
    assert not any("distilgpt2" in k or "bge-small" in k for k in keys)
    private = json.loads(bucket.objects["private_models_index.json"])
    assert set(private) == {
        "google-bert/bert-base-uncased---v1.0",
        "EleutherAI/pythia-14m---default_revision",
    }
    entry = private["EleutherAI/pythia-14m---default_revision"]
    assert entry["s3_prefix"] == "team/models/EleutherAI_pythia-14m/default_revision"
    assert entry["revision"] is None
    assert entry["is_full_model"] and entry["has_tokenizer"]
    public = json.loads(bucket.objects["public_models.json"])
    (qwen,) = public.values()
    assert set(qwen) == {
        "model_id",
        "revision",
        "s3_bucket",
        "model_card_url",
        "model_config_url",
        "s3_prefix",
    }
    host = f"http://{store.bucket}.127.0.0.1:9000/team/models/Qwen_Qwen2.5-0.5B/default_revision"
    assert qwen["model_card_url"] == f"{host}/model_card.md"
