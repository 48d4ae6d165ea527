"""Fixtures for export/import: a Hub emulator holding a real tiny transformers model, and a store
filled from it the way users fill one (a full model, a metadata-only one, a tag)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from hgloc import Localizer
from hgloc.config import Config
from hgloc_testing import HubEmulator, Repo

TESTS = Path(__file__).resolve().parents[1]

TINY = "hgloc-test/tiny-bert"  # a whole repo: weights (LFS), tokenizer, a nested file
CARDS = "hgloc-test/cards"  # stored metadata only; a tag v1.0 at an older commit
FLIPPED = "hgloc-test/flipped"  # one of its blobs gets damaged in a cache
CARD_V1 = b"---\nlicense: apache-2.0\n---\n# Cards\n\nVersion one.\n"
CARD_V2 = b"---\nlicense: mit\n---\n# Cards\n\nVersion two.\n"
CONFIG_V1 = b'{"model_type": "bert", "hidden_size": 16}'
CONFIG_V2 = b'{"model_type": "bert", "hidden_size": 32, "architectures": ["BertModel"]}'


def hub_repos(tiny_model_dir: Path) -> list[Repo]:
    weights = bytes(range(256)) * 64
    cards = Repo(
        CARDS,
        [
            {"README.md": CARD_V1, "config.json": CONFIG_V1, "weights.bin": weights},
            {"README.md": CARD_V2, "config.json": CONFIG_V2, "weights.bin": weights[::-1]},
        ],
        tags={"v1.0": 0},
    )
    flipped = Repo(
        FLIPPED,
        {"README.md": b"# flipped\n", "config.json": CONFIG_V1, "model.safetensors": weights * 3},
    )
    return [Repo.from_folder(TINY, tiny_model_dir), cards, flipped]


@pytest.fixture(scope="session")
def hub(tiny_model_dir: Path) -> Iterator[HubEmulator]:
    emulator = HubEmulator(hub_repos(tiny_model_dir))
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture(scope="session")
def filled_store(hub: HubEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding TINY whole, CARDS (main) and CARDS@v1.0 metadata only."""
    store = tmp_path_factory.mktemp("store")

    async def fill() -> None:
        config = Config(models_store_path=store, hf_endpoint=hub.url, offline=False)
        async with Localizer(config) as loc:
            await loc.download(TINY, metadata_only=False)
            await loc.download(CARDS)
            await loc.download(CARDS, "v1.0")

    anyio.run(fill)
    return store


def store_config(store: Path) -> Config:
    return Config(models_store_path=store, offline=True)
