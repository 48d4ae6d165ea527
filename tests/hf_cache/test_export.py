"""``hgloc export``: stored models into huggingface_hub's cache, plain folders, or a tar archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from huggingface_hub import HfApi, scan_cache_dir

from hgloc import Localizer
from hgloc.hf_cache import ExportFormat, ExportReport, export_models
from hgloc.hf_cache._layout import link_target, repo_folder
from hgloc.layout import FileRecord, ModelRecord
from hgloc_testing import HubEmulator, git_blob_sha1

from .conftest import CARDS, CONFIG_V1, CONFIG_V2, TINY, store_config

HERE = Path(__file__).resolve().parent


def export(store: Path, to: Path, *models: str, **kwargs: Any) -> ExportReport:
    return anyio.run(lambda: export_models(list(models), to, config=store_config(store), **kwargs))


def commit_of(hub: HubEmulator, repo_id: str, revision: str | None = None) -> str:
    repo = hub.repos[repo_id]
    index = repo.resolve(revision)
    assert index is not None
    return repo.commit_sha(index)


@pytest.fixture(scope="module")
def exported(filled_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("export") / "hub"
    report = export(filled_store, cache, TINY, CARDS, f"{CARDS}@v1.0")
    assert report.ok, report.failed
    assert [m.is_full_model for m in report.models] == [True, False, False]
    return cache


def test_the_layout_is_huggingface_hubs(hub: HubEmulator, exported: Path) -> None:
    tiny = exported / repo_folder(TINY)
    commit = commit_of(hub, TINY)
    assert (tiny / "refs" / "main").read_text() == commit
    assert json.loads((tiny / "trees" / f"{commit}.json").read_bytes())["format_version"] == 1
    weights = tiny / "snapshots" / commit / "model.safetensors"
    sha256 = hub.repos[TINY].entry(hub.repos[TINY].head(), "model.safetensors").sha256
    assert os.readlink(weights) == f"../../blobs/{sha256}"
    nested = tiny / "snapshots" / commit / "extras" / "deep" / "data.json"
    assert os.readlink(nested) == link_target("extras/deep/data.json", nested.resolve().name)
    assert nested.resolve().name == git_blob_sha1(nested.read_bytes())
    cards = exported / repo_folder(CARDS)
    assert (cards / "refs" / "v1.0").read_text() == commit_of(hub, CARDS, "v1.0")
    assert not (cards / "trees").exists()  # metadata only: no listing claims the snapshot whole
    main = cards / "snapshots" / commit_of(hub, CARDS)
    assert sorted(p.name for p in main.iterdir()) == ["README.md", "config.json"]


def test_huggingface_hub_scans_and_verifies_it(hub: HubEmulator, exported: Path) -> None:
    info = scan_cache_dir(exported)
    assert info.warnings == []
    repos = {r.repo_id: r for r in info.repos}
    assert set(repos) == {TINY, CARDS}
    refs = {ref for rev in repos[CARDS].revisions for ref in rev.refs}
    assert refs == {"main", "v1.0"}
    api = HfApi(endpoint=hub.url)
    tiny = api.verify_repo_checksums(TINY, cache_dir=exported)
    assert (tiny.mismatches, tiny.missing_paths, tiny.extra_paths) == ([], [], [])
    assert tiny.checked_count == len(hub.repos[TINY].commits[0])
    cards = api.verify_repo_checksums(CARDS, cache_dir=exported, revision="v1.0")
    assert cards.mismatches == [] and cards.missing_paths == ["weights.bin"]
    # And the command line, as a user runs it.
    hf = Path(sys.executable).with_name("hf")
    if hf.exists():
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1"}
        proc = subprocess.run(
            [str(hf), "cache", "verify", TINY, "--cache-dir", str(exported)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "All checksums match" in proc.stdout


def test_stock_tools_load_it_offline_in_a_fresh_process(hub: HubEmulator, exported: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_CACHE": str(exported),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_ENDPOINT", None)
    proc = subprocess.run(
        [sys.executable, str(HERE / "_offline_checks.py")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    checks = out["checks"]
    assert out["network"] == []
    assert checks["tiny_config"] == {"ok": 16}
    assert checks["tiny_tokenizer"]["ok"][0] == 2  # [CLS]
    assert checks["tiny_model"] == {"ok": [1, 4, 16]}
    tiny_files = sorted(hub.repos[TINY].commits[0])
    assert checks["tiny_snapshot"] == {"ok": tiny_files}
    assert checks["tiny_nested"] == {"ok": '{"deep": true}\n'}
    assert checks["tiny_tree"] == {"ok": tiny_files}
    assert checks["cards_config"] == {"ok": 32}
    assert checks["cards_tag_config"] == {"ok": 16}
    # Metadata only: the weights are not there, and nothing says they are.
    assert checks["cards_model"]["error"] == "OSError"
    assert checks["cards_snapshot"] == {"ok": ["README.md", "config.json"]}
    assert checks["cards_weights"]["error"] == "LocalEntryNotFoundError"


def test_same_filesystem_exports_link_instead_of_copying(
    filled_store: Path, tmp_path: Path
) -> None:
    report = export(filled_store, tmp_path / "hub", TINY, link_min_size=0)
    (model,) = report.models
    assert model.ok and model.linked == model.size
    blobs = list((tmp_path / "hub" / repo_folder(TINY) / "blobs").iterdir())
    assert blobs and all(b.stat().st_nlink >= 2 or _reflinked() for b in blobs)
    # Again: everything is kept, nothing rewritten.
    again = export(filled_store, tmp_path / "hub", TINY, link_min_size=0)
    assert again.ok and again.models[0].linked == model.size


def _reflinked() -> bool:
    return False  # tmp folders here are ext4/overlay/tmpfs: no reflinks, so hard links


def test_a_plain_folder_export_and_copies_are_checked(filled_store: Path, tmp_path: Path) -> None:
    report = export(filled_store, tmp_path / "dirs", TINY, CARDS, format="dir", hard_links=False)
    assert report.ok, report.failed
    folder = tmp_path / "dirs" / TINY
    assert (folder / "config.json").exists() and not (folder / "config.json").is_symlink()
    assert (folder / "README.md").exists()
    assert (folder / ".cache" / "huggingface" / "download" / "config.json.metadata").exists()
    assert (tmp_path / "dirs" / CARDS / "config.json").read_bytes() == CONFIG_V2
    assert report.models[0].linked == 0


def test_a_damaged_stored_file_is_not_exported(tmp_path: Path) -> None:
    store = tmp_path / "store"

    async def seed() -> None:
        sha1 = git_blob_sha1(CONFIG_V1)
        record = ModelRecord(
            model_id="org/damaged", revision=None, commit="a" * 40,
            files={"config.json": FileRecord("config.json", len(CONFIG_V1), sha1)},
        )  # fmt: skip
        async with Localizer(store_config(store)) as loc:
            damaged = CONFIG_V1.replace(b"16", b"61")
            await loc.models.save(loc.model_prefix("org/damaged"), {"config.json": damaged}, record)

    anyio.run(seed)
    report = export(store, tmp_path / "hub", "org/damaged", "org/absent", hard_links=False)
    damaged, absent = report.models
    assert not damaged.ok and "damaged" in (damaged.error or "")
    assert not absent.ok and "not in the store" in (absent.error or "")
    assert not list((tmp_path / "hub").rglob("config.json"))


def test_a_tar_archive_carries_the_cache_and_a_manifest(
    hub: HubEmulator, filled_store: Path, tmp_path: Path
) -> None:
    report = export(filled_store, tmp_path, TINY, f"{CARDS}@v1.0", format=ExportFormat.TAR)
    assert report.ok, report.failed
    archive = Path(report.target)
    assert archive.name == "hgloc-export.tar"
    with tarfile.open(archive) as tar:
        assert tar.getnames()[0] == "hgloc-manifest.json"
        tar.extractall(tmp_path / "out", filter="tar")
    manifest = json.loads((tmp_path / "out" / "hgloc-manifest.json").read_bytes())
    by_id = {(m["model_id"], m["revision"]): m for m in manifest["models"]}
    tiny = by_id[(TINY, None)]
    assert tiny["commit"] == commit_of(hub, TINY)
    weights = next(f for f in tiny["files"] if f["path"] == "model.safetensors")
    assert "sha256" in weights
    cache = tmp_path / "out" / "hub"
    assert scan_cache_dir(cache).warnings == []
    verified = HfApi(endpoint=hub.url).verify_repo_checksums(TINY, cache_dir=cache)
    assert (verified.mismatches, verified.missing_paths) == ([], [])
    tag = cache / repo_folder(CARDS) / "snapshots" / commit_of(hub, CARDS, "v1.0") / "config.json"
    assert tag.read_bytes() == CONFIG_V1


def test_copies_report_their_bytes(filled_store: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    report = export(
        filled_store, tmp_path / "hub", TINY, hard_links=False,
        on_bytes=lambda path, done, total: calls.append((path, done, total)),
    )  # fmt: skip
    size = report.models[0].size
    assert calls[0] == ("", 0, size)
    assert ("", size, size) in calls
    weights = [c for c in calls if c[0] == "model.safetensors"]
    assert weights[-1][1] == weights[-1][2] > 0
