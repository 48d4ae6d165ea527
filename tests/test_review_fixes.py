"""Regressions found in review: each failure reaches its caller, damaged entries are skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from hgloc import Config, Localizer
from hgloc.backends import LocalBackend

pytestmark = pytest.mark.anyio


async def test_a_shallow_metadata_file_is_skipped_not_a_crash(tmp_path: Path) -> None:
    store = LocalBackend(tmp_path)
    await store.write("stray/.hg_localization_bucket_metadata.json", b"{}")
    async with Localizer(Config(models_store_path=tmp_path, offline=True), backend=store) as loc:
        assert await loc.list_models() == []


async def test_a_progress_callback_error_is_raised_as_itself(tmp_path: Path) -> None:
    def broken(_: object) -> None:
        raise BrokenPipeError("stdout closed")

    async with Localizer(Config(models_store_path=tmp_path, offline=True)) as loc:
        with pytest.raises(BrokenPipeError):
            await loc.prefetch(["org/a", "org/b"], progress=broken)


def test_an_index_entry_with_a_null_prefix_is_skipped() -> None:
    from hgloc.backends import MemoryBackend
    from hgloc.bucket import BucketTier, merge_entries

    tier = BucketTier(Config(s3_bucket_name="b"), MemoryBackend())  # type: ignore[arg-type]
    entries = merge_entries(tier, {}, {"x": {"model_id": "gpt2", "s3_prefix": None}})
    assert entries == []
