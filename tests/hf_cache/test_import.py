"""``hgloc import``: a cache filled by stock huggingface_hub, adopted, every file checked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from hgloc import CachedModel, Localizer
from hgloc.config import Config
from hgloc.hf_cache import ImportReport, ImportStatus, export_models, import_cache, import_folder
from hgloc.hf_cache._layout import repo_folder
from hgloc.layout import METADATA_FILE
from hgloc_testing import HubEmulator

from .conftest import CARDS, FLIPPED, TINY, store_config


def listed(store: Path) -> dict[tuple[str, str | None], CachedModel]:
    async def main() -> list[CachedModel]:
        async with Localizer(store_config(store)) as loc:
            return await loc.list_models()

    return {(m.model_id, m.revision): m for m in anyio.run(main)}


def run_import(store: Path, cache: Path, *models: str, **kwargs: Any) -> ImportReport:
    wanted = list(models) or None
    return anyio.run(lambda: import_cache(cache, wanted, config=store_config(store), **kwargs))


def commit_of(hub: HubEmulator, repo_id: str, revision: str | None = None) -> str:
    repo = hub.repos[repo_id]
    index = repo.resolve(revision)
    assert index is not None
    return repo.commit_sha(index)


@pytest.fixture(scope="module")
def stock_cache(hub: HubEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache filled by huggingface_hub itself: a snapshot, single files, a tag."""
    cache = tmp_path_factory.mktemp("stock") / "hub"
    kw: dict[str, Any] = {"cache_dir": cache, "endpoint": hub.url}
    snapshot_download(TINY, **kw)
    snapshot_download(FLIPPED, **kw)
    hf_hub_download(CARDS, "README.md", **kw)
    hf_hub_download(CARDS, "config.json", **kw)
    hf_hub_download(CARDS, "config.json", revision="v1.0", **kw)
    return cache


def test_a_stock_cache_is_adopted_and_a_flipped_blob_is_not(
    hub: HubEmulator, stock_cache: Path, tmp_path: Path
) -> None:
    blobs = stock_cache / repo_folder(FLIPPED) / "blobs"
    weights = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))

    store = tmp_path / "store"
    report = run_import(store, stock_cache)
    by_ref = {(m.ref.model_id, m.ref.revision): m for m in report.models}
    flipped = by_ref[(FLIPPED, None)]
    assert flipped.status is ImportStatus.DAMAGED
    assert "model.safetensors" in (flipped.reason or "") and "sha256" in (flipped.reason or "")
    assert not report.ok and report.failed == (flipped,)

    models = listed(store)
    assert set(models) == {(TINY, None), (CARDS, None), (CARDS, "v1.0")}
    assert models[(TINY, None)].commit == commit_of(hub, TINY)
    assert models[(TINY, None)].is_full_model  # snapshot_download wrote the tree listing
    assert models[(CARDS, None)].commit == commit_of(hub, CARDS)
    assert models[(CARDS, "v1.0")].commit == commit_of(hub, CARDS, "v1.0")
    assert not models[(CARDS, None)].is_full_model  # single files: completeness unknown
    assert models[(CARDS, None)].has_card and models[(CARDS, None)].has_config

    # A second run finds them in the store.
    again = run_import(store, stock_cache, TINY, f"{CARDS}@v1.0")
    assert [m.status for m in again.models] == [ImportStatus.SKIPPED, ImportStatus.SKIPPED]


def test_a_partial_snapshot_is_reported_unless_asked_for(stock_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repo = cache / repo_folder(TINY)
    _copy_tree(stock_cache / repo_folder(TINY), repo)
    snapshot = next((repo / "snapshots").iterdir())
    (snapshot / "tokenizer_config.json").unlink()
    store = tmp_path / "store"
    (model,) = run_import(store, cache).models
    assert model.status is ImportStatus.PARTIAL and "tokenizer_config.json" in (model.reason or "")
    assert listed(store) == {}
    (model,) = run_import(store, cache, allow_partial=True).models
    assert model.status is ImportStatus.IMPORTED and not model.is_full_model


def _copy_tree(src: Path, dst: Path) -> None:
    for dirpath, _, names in os.walk(src):
        for name in names:
            path = Path(dirpath, name)
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                os.symlink(os.readlink(path), target)
            else:
                target.write_bytes(path.read_bytes())


def _folder_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != METADATA_FILE
    }


def test_export_then_import_gives_byte_identical_models(filled_store: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    wanted = [TINY, CARDS, f"{CARDS}@v1.0"]
    exported = anyio.run(lambda: export_models(wanted, cache, config=store_config(filled_store)))
    assert exported.ok, exported.failed
    store = tmp_path / "store"
    report = run_import(store, cache)
    assert report.ok and len(report.imported) == 3, report.models

    async def records(root: Path) -> dict[Any, Any]:
        async with Localizer(store_config(root)) as loc:
            out = {}
            for model in await loc.list_models():
                prefix = loc.model_prefix(model.model_id, model.revision)
                record = await loc.models.load(prefix)
                assert record is not None
                key = (model.model_id, model.revision)
                out[key] = (record.commit, dict(record.files), record.is_full_model)
            return out

    before, after = anyio.run(records, filled_store), anyio.run(records, store)
    assert after == before
    for model_id, revision in before:
        src = Path(listed(filled_store)[(model_id, revision)].path)
        dst = Path(listed(store)[(model_id, revision)].path)
        assert _folder_files(dst) == _folder_files(src)


def test_a_plain_folder_of_a_known_commit(
    hub: HubEmulator, filled_store: Path, tmp_path: Path
) -> None:
    dirs = tmp_path / "dirs"
    config = store_config(filled_store)
    exported = anyio.run(lambda: export_models([TINY], dirs, format="dir", config=config))
    assert exported.ok
    store = tmp_path / "store"
    commit = commit_of(hub, TINY)
    report = anyio.run(lambda: import_folder(dirs / TINY, TINY, commit, config=store_config(store)))
    (model,) = report.models
    assert model.status is ImportStatus.IMPORTED and model.is_full_model
    assert listed(store)[(TINY, None)].commit == commit

    # Without local_dir bookkeeping the Hub's file list (one request) gives the hashes.
    plain = tmp_path / "plain"
    _copy_tree(dirs / TINY, plain)
    shutil.rmtree(plain / ".cache")
    (plain / "config.json").write_bytes(b'{"model_type": "bert"}')  # edited locally
    online = Config(models_store_path=tmp_path / "store2", hf_endpoint=hub.url, offline=False)
    report = anyio.run(lambda: import_folder(plain, TINY, commit, config=online))
    (model,) = report.models
    assert model.status is ImportStatus.DAMAGED and "config.json" in (model.reason or "")
