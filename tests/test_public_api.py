"""The public surface: exported types, keyword-only config, and the documented failure values."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.errors as hf_errors
import pytest
from hub_fixtures import corpus_hub

import hgloc
import hgloc.backends
import hgloc.sync
from hgloc import Config, Localizer, ModelRequest, Source, Status
from hgloc.errors import (
    HglocError,
    InvalidModelIdError,
    NoBucketConfiguredError,
    OfflineModeError,
)
from hgloc_testing import HubEmulator

pytestmark = pytest.mark.anyio

MODEL = "hgloc-test/unicode-card"


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    emulator = corpus_hub(40)
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def config(hub: HubEmulator, tmp_path: Path) -> Config:
    assert hub.url
    return Config(models_store_path=tmp_path / "store", hf_endpoint=hub.url, offline=False)


def test_every_type_of_a_public_signature_is_exported() -> None:
    for name in (
        "BucketEntry", "BucketTier", "ByteProgress", "CachedModel", "ModelRequest",
        "ModelResult", "NoBucketConfiguredError", "PrefetchReport", "ProgressCallback",
        "RetryPolicy", "Source", "Status", "TransferSettings", "VerifyReport", "VerifyResult",
    ):  # fmt: skip
        assert name in hgloc.__all__
        assert getattr(hgloc, name) is not None


@pytest.mark.parametrize(
    "name",
    [
        "download_model_metadata", "list_local_models", "get_cached_model_card_content",
        "get_cached_model_config_content", "get_model_card_content", "get_model_config_content",
        "load_config", "prefetch", "list_s3_models", "sync_local_model_to_s3",
        "sync_all_local_models_to_s3",
    ],
)  # fmt: skip
def test_config_is_keyword_only(name: str) -> None:
    for module in (hgloc, hgloc.sync):
        parameter = inspect.signature(getattr(module, name)).parameters["config"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


def test_error_leaves_are_what_users_catch() -> None:
    assert issubclass(OfflineModeError, hf_errors.OfflineModeIsEnabled)
    assert issubclass(OfflineModeError, ConnectionError)
    assert issubclass(NoBucketConfiguredError, HglocError)
    assert issubclass(NoBucketConfiguredError, ValueError)


def test_a_request_is_validated_and_frozen() -> None:
    with pytest.raises(InvalidModelIdError):
        ModelRequest(model_id="../x")
    with pytest.raises(InvalidModelIdError):
        ModelRequest(model_id="org/name", revision="../x")
    request = ModelRequest(model_id="org/name", allow_patterns="*.json", metadata_only=False)
    assert request.allow_patterns == ("*.json",) and request.full
    assert request.for_model(hgloc.ModelRef("other/x", "v1")).key == ("other/x", "v1")


async def test_the_source_is_an_enum_and_its_json_a_plain_word(config: Config) -> None:
    async with Localizer(config) as loc:
        first = await loc.get(ModelRequest(model_id=MODEL))
        again = await loc.download(MODEL)
    assert (first.source, first.status) == (Source.HUB, Status.FETCHED)
    assert (again.source, again.status) == (Source.STORE, Status.SKIPPED)
    assert json.loads(json.dumps(first.as_dict()))["source"] == "hub"


async def test_without_a_bucket_the_documented_functions_return_their_failure_values(
    config: Config,
) -> None:
    ok, path = await hgloc.download_model_metadata(MODEL, config=config)
    assert ok, path
    ok, message = await hgloc.sync_local_model_to_s3(MODEL, config=config)
    assert not ok and "HGLOC_S3_BUCKET_NAME" in message
    seen: list[hgloc.ModelResult] = []
    report = await hgloc.sync_all_local_models_to_s3(config=config, progress=seen.append)
    [result] = report.results
    assert result.status is Status.FAILED and result.error
    assert "HGLOC_S3_BUCKET_NAME" in result.error
    assert result.error_type == "NoBucketConfiguredError"
    assert seen == [result]
    assert await hgloc.list_s3_models(config=config) == []


async def test_the_localizer_names_the_missing_bucket(config: Config) -> None:
    async with Localizer(config) as loc:
        await loc.download(MODEL)
        with pytest.raises(NoBucketConfiguredError, match="HGLOC_S3_BUCKET_NAME"):
            await loc.upload(MODEL)
        with pytest.raises(NoBucketConfiguredError):
            await loc.list_bucket_models()
        with pytest.raises(ValueError):  # what a caller of the old API caught
            await loc.sync_all_to_bucket()


async def test_backend_and_models_name_what_they_hold(config: Config) -> None:
    backend = hgloc.backends.MemoryBackend()
    async with Localizer(config, backend=backend) as loc:
        await loc.download(MODEL)
        assert loc.backend is backend
        record = await loc.models.load(loc.model_prefix(MODEL))
        assert record is not None and record.model_id == MODEL
