"""The pure layout rules agree with huggingface_hub's own functions; the public names answer."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

import pytest
from huggingface_hub._tree_cache import read_tree_cache
from huggingface_hub.file_download import repo_folder_name

import hgloc
import hgloc.sync
from hgloc.config import Config
from hgloc.hf_cache import _layout
from hgloc.hf_cache._layout import TreeFile, link_target, parse_tree, repo_folder, tree_json
from hgloc.layout import FileRecord


def test_the_doctests() -> None:
    assert doctest.testmod(_layout).failed == 0


@pytest.mark.parametrize("repo_id", ["gpt2", "openai-community/gpt2", "a-b/c.d_e"])
def test_repo_folders_are_huggingface_hubs(repo_id: str) -> None:
    assert repo_folder(repo_id) == repo_folder_name(repo_id=repo_id, repo_type="model")
    assert _layout.repo_id_of(repo_folder(repo_id)) == repo_id


@pytest.mark.parametrize("path", ["config.json", "a/b.txt", "a/b/c/d.bin"])
def test_links_are_relative_as_huggingface_hub_makes_them(path: str) -> None:
    snapshot = "/cache/models--x/snapshots/" + "c" * 40
    link = f"{snapshot}/{path}"
    expected = os.path.relpath("/cache/models--x/blobs/ab", os.path.dirname(link))
    assert link_target(path, "ab") == expected


def test_tree_listings_read_back_in_huggingface_hub(tmp_path: Path) -> None:
    lfs = FileRecord("model.safetensors", 10, None, "f" * 64)
    small = FileRecord("config.json", 2, "b" * 40)
    files = {r.repo_path: TreeFile.of(r) for r in (lfs, small)}
    commit = "d" * 40
    (tmp_path / "trees").mkdir()
    (tmp_path / "trees" / f"{commit}.json").write_bytes(tree_json(files))
    read = read_tree_cache(str(tmp_path), commit)
    assert read is not None
    assert read["model.safetensors"].lfs_sha256 == "f" * 64
    assert read["model.safetensors"].blob_id == files["model.safetensors"].blob_id
    assert read["config.json"].blob_id == "b" * 40
    assert parse_tree(tree_json(files)) == files
    assert [f.record() for f in files.values()] == [lfs, small]


def test_the_public_names(tmp_path: Path) -> None:
    assert hgloc.export_models is hgloc.hf_cache.export_models
    config = Config(models_store_path=tmp_path / "store", offline=True)
    report = hgloc.sync.export_models(["org/absent"], tmp_path / "hub", config=config)
    assert not report.ok and report.models[0].error
    imported = hgloc.sync.import_cache(tmp_path / "nothing", config=config)
    assert imported.ok and imported.models == ()
