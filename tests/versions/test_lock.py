"""Lock files: written from the store, fetched exactly, checked byte by byte (emulator)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import attrs
import pytest

import hgloc
import hgloc.sync
from hgloc import Config, Localizer, Status
from hgloc.lockfile import LockFile, LockFileError, NotStoredError
from hgloc_testing import HubEmulator

from .conftest import WEIGHTS_V1, Run

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_lock_file_format(
    config: Config, repo_id: str, hub: HubEmulator, tmp_path: Path
) -> None:
    repo = hub.repos[repo_id]
    async with Localizer(config) as loc:
        await loc.download(repo_id, "main", metadata_only=False)
        await loc.download(repo_id, "v1.0")
    out = tmp_path / "hgloc.lock"
    lock = await hgloc.lock([f"{repo_id}@main", f"{repo_id}@v1.0"], out, config=config)
    data = tomllib.loads(out.read_text())
    assert data["version"] == 1
    full, meta = data["models"]
    assert full["id"] == repo_id and full["revision"] == "main" and full["full"] is True
    assert full["commit"] == repo.commit_sha(2)
    files = {f["path"]: f for f in full["files"]}
    assert set(files) == {"README.md", "config.json", "model.safetensors"}
    assert files["model.safetensors"]["size"] == len(WEIGHTS_V1)
    assert len(files["model.safetensors"]["sha256"]) == 64
    assert "sha256" not in files["config.json"] and len(files["config.json"]["git_oid"]) == 40
    assert meta["revision"] == "v1.0" and meta["full"] is False
    assert meta["commit"] == repo.commit_sha(0)
    assert {f["path"] for f in meta["files"]} == {"README.md", "config.json"}
    assert LockFile.read(out) == lock


async def test_lock_needs_the_models_in_the_store(config: Config, repo_id: str) -> None:
    with pytest.raises(NotStoredError, match=r"v2\.0"):
        await hgloc.lock([f"{repo_id}@v2.0"], config=config)


def test_bad_lock_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.lock"
    bad.write_text('[[models]]\nid = "a/b"\ncommit = "xyz"\n')
    with pytest.raises(LockFileError, match="40 hex"):
        LockFile.read(bad)
    bad.write_text("not = [toml")
    with pytest.raises(LockFileError):
        LockFile.read(bad)
    with pytest.raises(LockFileError, match="cannot read"):
        LockFile.read(tmp_path / "absent.lock")


async def test_round_trip_after_the_branch_moves(
    config: Config, repo_id: str, hub: HubEmulator, tmp_path: Path
) -> None:
    """Lock main, the Hub moves main, another store prefetches the lock: the locked commit."""
    repo = hub.repos[repo_id]
    locked_commit = repo.commit_sha(2)
    async with Localizer(config) as loc:
        await loc.download(repo_id, "main", metadata_only=False)
        await loc.download(repo_id, "v1.0")
    path = tmp_path / "team.lock"
    await hgloc.lock([f"{repo_id}@main", f"{repo_id}@v1.0"], path, config=config)

    moved = hub.push_commit(repo_id, {"model.safetensors": b"after the lock"})
    assert moved != locked_commit
    other = attrs.evolve(config, models_store_path=tmp_path / "other")
    report = await hgloc.prefetch(locked=path, config=other)
    assert report.ok, report.failed
    assert [r.status for r in report.results] == [Status.FETCHED, Status.FETCHED]
    main = report.results[0]
    assert (main.revision, main.commit) == ("main", locked_commit)
    assert main.path is not None
    assert (Path(main.path) / "model.safetensors").read_bytes() == WEIGHTS_V1
    # Stored under the locked revision's name, recording the locked commit; no commit folder left.
    async with Localizer(other) as loc:
        held = await loc.cached(repo_id, "main")
        assert held is not None and held.commit == locked_commit and held.is_full_model
        by_commit = await loc.cached(repo_id, locked_commit)  # main's folder answers for it
        assert by_commit is not None and by_commit.revision == "main"
        assert {(m.revision, m.commit) for m in await loc.list_models()} == {
            ("main", locked_commit),
            ("v1.0", repo.commit_sha(0)),
        }
    folders = {p.name for p in next((tmp_path / "other").glob("hgloc-versions_*")).iterdir()}
    assert folders == {"main", "v1.0"}  # the commit's own folder is gone again
    assert (await hgloc.verify_locked(path, config=other)).ok
    # Again: nothing to do, no request.
    hub.reset_requests()
    again = await hgloc.prefetch(locked=path, config=attrs.evolve(other, offline=True))
    assert [r.status for r in again.results] == [Status.SKIPPED, Status.SKIPPED]
    assert not hub.requests
    # The store that made the lock, refreshed to the moved branch, goes back to the lock.
    async with Localizer(config) as loc:
        await loc.download(repo_id, "main", metadata_only=False, refresh=True)
        assert (await loc.cached(repo_id, "main")).commit == moved  # type: ignore[union-attr]
    assert not (await hgloc.verify_locked(path, config=config)).ok
    back = hgloc.sync.prefetch(locked=path, config=config)
    assert back.ok and back.results[0].status is Status.FETCHED
    assert hgloc.sync.verify_locked(path, config=config).ok


async def test_a_lock_pinned_by_commit_is_placed_from_the_branch_at_it(
    config: Config, repo_id: str, hub: HubEmulator, tmp_path: Path
) -> None:
    """The store holds main at the locked commit: the commit's folder comes from it, offline."""
    async with Localizer(config) as loc:
        main = await loc.download(repo_id, "main", metadata_only=False)
    (model,) = (await hgloc.lock([f"{repo_id}@main"], config=config)).models
    pinned = LockFile([attrs.evolve(model, revision=model.commit)])
    offline = attrs.evolve(config, offline=True)
    hub.reset_requests()
    report = await hgloc.prefetch(locked=pinned, config=offline)
    assert report.ok, report.failed
    (result,) = report.results
    assert (result.revision, result.commit) == (model.commit, model.commit)
    assert result.path is not None and result.path != main.path
    assert (Path(result.path) / "model.safetensors").read_bytes() == WEIGHTS_V1
    assert (await hgloc.verify_locked(pinned, config=offline)).ok
    assert not hub.requests


async def test_a_commit_held_without_the_locked_files_is_fetched_into_its_folder(
    config: Config, repo_id: str, hub: HubEmulator, tmp_path: Path
) -> None:
    """main holds the commit but not every locked file: the commit is fetched, not placed."""
    other = attrs.evolve(config, models_store_path=tmp_path / "other")
    async with Localizer(other) as loc:
        await loc.download(repo_id, "main", metadata_only=False)
    (model,) = (await hgloc.lock([f"{repo_id}@main"], config=other)).models
    pinned = LockFile([attrs.evolve(model, revision=model.commit)])
    async with Localizer(config) as loc:  # main at that commit, without the weights
        partial = await loc.download(repo_id, "main", metadata_only=False, allow_patterns="*.json")
    assert partial.path is not None
    assert not (Path(partial.path) / "model.safetensors").exists()
    report = await hgloc.prefetch(locked=pinned, config=config)
    assert report.ok, report.failed
    (result,) = report.results
    assert result.path is not None
    assert (Path(result.path) / "model.safetensors").read_bytes() == WEIGHTS_V1
    assert (await hgloc.verify_locked(pinned, config=config)).ok


async def test_prefetch_locked_fails_a_model_whose_bytes_differ(
    config: Config, repo_id: str, tmp_path: Path
) -> None:
    async with Localizer(config) as loc:
        await loc.download(repo_id, "v1.0", metadata_only=False)
    lock = await hgloc.lock([f"{repo_id}@v1.0"], config=config)
    model = lock.models[0]
    tampered = [
        attrs.evolve(f, sha256="0" * 64) if f.path == "model.safetensors" else f
        for f in model.files
    ]
    bad = LockFile([attrs.evolve(model, files=tampered)])
    report = await hgloc.prefetch(
        locked=bad, config=attrs.evolve(config, models_store_path=tmp_path / "x")
    )
    assert not report.ok
    assert report.results[0].error_type == "LockMismatchError"
    assert "model.safetensors" in (report.results[0].error or "")


async def test_verify_locked_catches_a_changed_byte(
    config: Config, repo_id: str, tmp_path: Path
) -> None:
    async with Localizer(config) as loc:
        result = await loc.download(repo_id, "v1.0", metadata_only=False)
    path = tmp_path / "hgloc.lock"
    await hgloc.lock([f"{repo_id}@v1.0"], path, config=config)
    assert (await hgloc.verify_locked(path, config=config)).ok
    assert result.path is not None
    weights = Path(result.path) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[5] ^= 0x01
    weights.write_bytes(bytes(data))
    report = await hgloc.verify_locked(path, config=attrs.evolve(config, offline=True))
    assert not report.ok
    (damaged,) = report.damaged
    assert damaged.damaged_files == ("model.safetensors",)
    assert any("differ" in p for p in damaged.problems)


def test_lock_cli_round_trip(
    config: Config, repo_id: str, hub: HubEmulator, run: Run, tmp_path: Path
) -> None:
    repo = hub.repos[repo_id]
    assert run("prefetch", f"{repo_id}@stable", "--full-model").exit_code == 0
    lock_path = tmp_path / "cli.lock"
    result = run("lock", f"{repo_id}@stable", "-o", str(lock_path))
    assert result.exit_code == 0, result.output
    assert f'commit = "{repo.commit_sha(1)}"' in lock_path.read_text()
    printed = run("lock", f"{repo_id}@stable", "-o", "-")
    assert printed.output == lock_path.read_text()
    assert run("lock", f"{repo_id}@v2.0").exit_code == 1  # not in the store

    hub.push_commit(repo_id, {"README.md": b"# later\n"}, branch="stable")
    other = tmp_path / "other"
    fetched = run("--store", str(other), "prefetch", "--locked", str(lock_path), "--json")
    assert fetched.exit_code == 0, fetched.output
    data = json.loads(fetched.stdout)
    assert data["fetched"] == 1 and data["models"][0]["commit"] == repo.commit_sha(1)
    assert run("--store", str(other), "verify", "--locked", str(lock_path)).exit_code == 0
    card = next(other.rglob("stable/model_card.md"))
    card.write_bytes(b"# changed\n")
    damaged = run("--store", str(other), "verify", "--locked", str(lock_path))
    assert damaged.exit_code == 1
    assert "README.md" in damaged.output
    assert run("prefetch", "--locked", str(tmp_path / "absent.lock")).exit_code == 2
    assert run("prefetch", "--locked", str(lock_path), "x/y").exit_code == 2
