"""Fixtures for ``hgloc serve``: an upstream Hub, stores filled through the localizer, servers.

Stores are filled the way users fill them: ``Localizer.download`` from a Hub
emulator (metadata only, or the whole repo), into a local folder, a memory
store and a moto bucket. Servers run uvicorn in a thread on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from hgloc import Localizer
from hgloc.backends import MemoryBackend, StorageBackend
from hgloc.config import Config
from hgloc.layout import FileRecord, ModelRecord
from hgloc.serve import HubServer, create_app
from hgloc_testing import HubEmulator, Repo, git_blob_sha1

HERE = Path(__file__).resolve().parent

TINY = "hgloc-test/tiny-bert"  # a whole repo: weights (LFS), tokenizer, nested folders
CARDS = "hgloc-test/cards"  # metadata only; a tag v1.0 at an older commit
LEGACY = "tinyconf"  # a legacy one-part id
NASTY_REVISION = '"><script>window.pwned=1</script>'  # a valid revision full of markup
NASTY = "hgloc-test/escape-me"

CARD_V2 = b"""---
license: mit
library_name: transformers
tags:
- hgloc
- text-classification
pipeline_tag: fill-mask
---
# Cards

Version two of a model card: \xc3\xa9t\xc3\xa9 \xf0\x9f\x8c\x8d.
"""
CARD_V1 = b"---\nlicense: apache-2.0\n---\n# Cards\n\nVersion one.\n"
CONFIG_V2 = b'{"model_type": "bert", "hidden_size": 32, "architectures": ["BertModel"]}'
CONFIG_V1 = b'{"model_type": "bert", "hidden_size": 16}'
LEGACY_CONFIG = b'{"model_type": "gpt2", "n_layer": 2, "n_embd": 8, "n_head": 2}'


def s3_missing_reason() -> str | None:
    """Why the bucket tests cannot run here, or None."""
    for module in ("aiobotocore", "moto.server"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"S3 tests need {module.split('.')[0]}"
        except ModuleNotFoundError:
            return f"S3 tests need {module.split('.')[0]}"
    return None


def upstream_repos(tiny_model_dir: Path) -> list[Repo]:
    """What the upstream Hub (an emulator) holds."""
    weights = bytes(range(256)) * 64
    cards = Repo(
        CARDS,
        [
            {"README.md": CARD_V1, "config.json": CONFIG_V1, "weights.bin": weights},
            {"README.md": CARD_V2, "config.json": CONFIG_V2, "weights.bin": weights[::-1]},
        ],
        tags={"v1.0": 0},
    )
    legacy = Repo(LEGACY, [{"README.md": b"# legacy id\n", "config.json": LEGACY_CONFIG}])
    return [Repo.from_folder(TINY, tiny_model_dir), cards, legacy]


@pytest.fixture(scope="session")
def upstream(tiny_model_dir: Path) -> Iterator[HubEmulator]:
    """The Hub the stores were filled from (and the pull-through tests fetch from)."""
    hub = HubEmulator(upstream_repos(tiny_model_dir))
    with hub.run_in_thread():
        yield hub


async def fill(loc: Localizer) -> None:
    """Cache the corpus the way users do: metadata, a tag, a legacy id, one whole repo."""
    await loc.download(TINY, metadata_only=False)
    await loc.download(CARDS)
    await loc.download(CARDS, "v1.0")
    await loc.download(LEGACY)
    # A revision no Hub would make, written as the localizer would have written it.
    card = b"# escape me\n"
    record = ModelRecord(
        model_id=NASTY,
        revision=NASTY_REVISION,
        commit="e" * 40,
        files={"model_card.md": FileRecord("README.md", len(card), git_blob_sha1(card))},
    )
    prefix = loc.model_prefix(NASTY, NASTY_REVISION)
    await loc.models.save(prefix, {"model_card.md": card}, attrs.evolve(record))


@attrs.frozen
class Store:
    """A filled store, ready to serve: how to build an app on it."""

    kind: str
    config: Config
    backend: StorageBackend | None = None  # the memory store (else config's folder)
    s3: bool = False

    def app(self, **options: Any) -> HubServer:
        return create_app(self.config, store=self.backend, s3=self.s3, **options)


@pytest.fixture(scope="session")
def local_store(upstream: HubEmulator, tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("local-store")
    config = Config(models_store_path=folder, hf_endpoint=upstream.url, offline=False)

    async def main() -> None:
        async with Localizer(config) as loc:
            await fill(loc)

    anyio.run(main)
    return Store("local", Config(models_store_path=folder))


@pytest.fixture(scope="session")
def memory_store(upstream: HubEmulator) -> Store:
    backend = MemoryBackend("served")
    config = Config(hf_endpoint=upstream.url, offline=False)

    async def main() -> None:
        async with Localizer(config, backend=backend) as loc:  # closing keeps the content
            await fill(loc)

    anyio.run(main)
    return Store("memory", Config(), backend)


@pytest.fixture(scope="session")
def moto() -> Iterator[Any]:
    reason = s3_missing_reason()
    if reason:
        pytest.skip(reason)
    from hgloc_testing import MotoServer

    with MotoServer() as server:
        yield server


def bucket_config(moto: Any, bucket: str, store: Path, **extra: Any) -> Config:
    return Config(
        models_store_path=store,
        s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url,
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
        s3_data_prefix="team",
        **extra,
    )


@pytest.fixture(scope="session")
def s3_store(upstream: HubEmulator, moto: Any, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The same corpus in a moto bucket; the server gets an empty local folder."""
    bucket = moto.create_bucket(f"hgloc-serve-{uuid.uuid4().hex[:12]}")
    staging = tmp_path_factory.mktemp("s3-staging")

    async def main() -> None:
        config = bucket_config(moto, bucket, staging, hf_endpoint=upstream.url, offline=False)
        async with Localizer(config) as loc:
            await fill(loc)
            await loc.upload(NASTY, NASTY_REVISION)  # written by hand: not uploaded by fill

    anyio.run(main)
    return Store("s3", bucket_config(moto, bucket, tmp_path_factory.mktemp("s3-server")), s3=True)


@contextlib.contextmanager
def running(app: Any, *, startup_timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn (lifespan on) from a daemon thread; yields its base URL."""
    from hgloc_testing import run_asgi_in_thread

    with run_asgi_in_thread(
        app, name="hgloc-serve", lifespan="on", startup_timeout=startup_timeout
    ) as url:
        yield url


STORE_KINDS = ["local", "memory", "s3"]


@pytest.fixture(scope="module", params=STORE_KINDS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Store, str]]:
    """A server on each kind of store: ``(store, base URL)``."""
    store: Store = request.getfixturevalue(f"{request.param}_store")
    with running(store.app()) as url:
        yield store, url
