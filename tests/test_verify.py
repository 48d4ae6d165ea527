"""`verify`: stored bytes are re-hashed against their metadata, damage caught and repaired."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hub_fixtures import corpus_hub

from hgloc import Config, Localizer
from hgloc_testing import HubEmulator

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    emulator = corpus_hub(40)
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
async def loc(hub: HubEmulator, tmp_path: Path) -> AsyncIterator[Localizer]:
    config = Config(models_store_path=tmp_path / "store", hf_endpoint=hub.url, offline=False)
    async with Localizer(config) as localizer:
        yield localizer


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


async def test_intact_store_verifies(loc: Localizer) -> None:
    await loc.prefetch(["hgloc-test/unicode-card", "hgloc-test/config-nan"])
    report = await loc.verify()
    assert report.ok
    assert [r.files for r in report.results] == [2, 2]
    assert sum(r.bytes for r in report.results) > 1000


async def test_a_flipped_byte_is_caught_and_repaired(loc: Localizer) -> None:
    await loc.download("hgloc-test/unicode-card")
    card = Path(loc.backend.location("hgloc-test_unicode-card/default_revision/model_card.md"))
    original = card.read_bytes()
    flip_one_byte(card)

    report = await loc.verify(["hgloc-test/unicode-card"])
    [result] = report.results
    assert not result.ok
    assert result.damaged_files == ("model_card.md",)
    assert "model_card.md" in result.problems[0] and "sha1" in result.problems[0]

    repaired = await loc.verify(["hgloc-test/unicode-card"], repair=True)
    assert repaired.results[0].repaired and repaired.ok
    assert card.read_bytes() == original
    assert (await loc.verify()).ok


async def test_missing_file_and_unknown_model(loc: Localizer) -> None:
    await loc.download("hgloc-test/config-nan")
    Path(loc.backend.location("hgloc-test_config-nan/default_revision/config.json")).unlink()
    report = await loc.verify(["hgloc-test/config-nan", "nobody/cached"])
    by_id = {r.model_id: r for r in report.results}
    assert by_id["hgloc-test/config-nan"].problems[0].endswith("missing")
    assert by_id["nobody/cached"].error == "not in the store"
    assert not report.ok
