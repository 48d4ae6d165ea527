"""``--redirect-to-bucket``: LFS files of a bucket answer 302 to a presigned URL, as on the Hub."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from hgloc import Localizer
from hgloc_testing import HubEmulator, Repo

from .conftest import bucket_config, running

REPO = "team/redirected"
WEIGHTS = hashlib.sha256(b"w").digest() * 40_000  # 1.28 MB of safetensors: an LFS file
CONFIG = b'{"model_type": "bert"}'


def test_lfs_files_redirect_to_a_presigned_url_and_small_files_do_not(
    moto: Any, tmp_path: Path
) -> None:
    from hgloc.serve import create_app

    bucket = moto.create_bucket(f"redirect-{uuid.uuid4().hex[:10]}")
    hub = HubEmulator([Repo(REPO, [{"config.json": CONFIG, "model.safetensors": WEIGHTS}])])
    with hub.run_in_thread() as hub_url:

        async def fill() -> None:
            config = bucket_config(moto, bucket, tmp_path / "a", hf_endpoint=hub_url, offline=False)
            async with Localizer(config) as loc:
                assert (await loc.download(REPO, metadata_only=False)).ok
                await loc.upload(REPO)

        anyio.run(fill)
    app = create_app(bucket_config(moto, bucket, tmp_path / "b"), s3=True, redirect_to_bucket=True)
    with running(app) as url:
        weights = f"{url}/{REPO}/resolve/main/model.safetensors"
        for method in ("HEAD", "GET"):
            moved = httpx2.request(method, weights, follow_redirects=False)
            assert moved.status_code == 302
            assert moved.headers["x-linked-size"] == str(len(WEIGHTS))
            assert moved.headers["x-linked-etag"] == f'"{hashlib.sha256(WEIGHTS).hexdigest()}"'
            assert "x-repo-commit" in moved.headers
            location = moved.headers["location"]
            assert location.startswith(moto.endpoint_url) and "Signature" in location
        assert httpx2.get(location).content == WEIGHTS  # no credentials: the URL is signed
        small = httpx2.get(f"{url}/{REPO}/resolve/main/config.json", follow_redirects=False)
        assert small.status_code == 200 and small.content == CONFIG

        from huggingface_hub import hf_hub_download

        path = hf_hub_download(
            REPO, "model.safetensors", endpoint=url, cache_dir=tmp_path / "hf", token=False
        )
        assert Path(path).read_bytes() == WEIGHTS


def test_redirects_need_a_bucket(tmp_path: Path) -> None:
    from hgloc.config import Config
    from hgloc.serve import create_app

    with pytest.raises(ValueError, match="needs s3=True"):
        create_app(Config(models_store_path=tmp_path), redirect_to_bucket=True)
