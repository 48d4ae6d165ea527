"""Revisions side by side, the store's refs, offline lookup by tag (against the emulator)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs
import pytest

import hgloc
from hgloc import Config, Localizer
from hgloc.versions import RefState
from hgloc_testing import HubEmulator

from .conftest import CONFIG, WEIGHTS_V0, WEIGHTS_V1, Run

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _inode(path: str, name: str) -> int:
    return os.stat(Path(path) / name).st_ino


async def test_two_revisions_side_by_side_share_unchanged_files(
    config: Config, repo_id: str, hub: HubEmulator
) -> None:
    async with Localizer(config) as loc:
        v1 = await loc.download(repo_id, "v1.0", metadata_only=False)
        main = await loc.download(repo_id, "main", metadata_only=False)
        stable = await loc.download(repo_id, "stable", metadata_only=False)
        v2 = await loc.download(repo_id, "v2.0", metadata_only=False)
    repo = hub.repos[repo_id]
    assert v1.commit == repo.commit_sha(0) and main.commit == repo.commit_sha(2)
    assert stable.commit == v2.commit == repo.commit_sha(1)
    assert v1.path and main.path and stable.path and v2.path
    # Each revision has its folder, with its own bytes.
    assert (Path(v1.path) / "model.safetensors").read_bytes() == WEIGHTS_V0
    assert (Path(main.path) / "model.safetensors").read_bytes() == WEIGHTS_V1
    assert (Path(v1.path) / "model_card.md").read_bytes() == b"# v0\n"
    # Unchanged files are stored once: hard links between the revision folders.
    assert _inode(v1.path, "config.json") == _inode(main.path, "config.json")
    assert _inode(v1.path, "model.safetensors") == _inode(stable.path, "model.safetensors")
    assert _inode(v1.path, "model.safetensors") != _inode(main.path, "model.safetensors")
    assert _inode(v1.path, "model_card.md") != _inode(main.path, "model_card.md")
    # Two names at one commit share every file.
    for name in ("model_card.md", "config.json", "model.safetensors"):
        assert _inode(stable.path, name) == _inode(v2.path, name)
    assert (Path(main.path) / "config.json").read_bytes() == CONFIG


async def test_a_moved_branch_leaves_the_other_revisions_bytes_alone(
    config: Config, repo_id: str, hub: HubEmulator
) -> None:
    async with Localizer(config) as loc:
        v1 = await loc.download(repo_id, "v1.0", metadata_only=False)
        await loc.download(repo_id, "main", metadata_only=False)
        # The branch moves between two requests: main gets new weights.
        new = hub.push_commit(repo_id, {"model.safetensors": b"moved" * 10})
        moved = await loc.download(repo_id, "main", metadata_only=False, refresh=True)
    assert moved.commit == new
    assert moved.path and v1.path
    assert (Path(moved.path) / "model.safetensors").read_bytes() == b"moved" * 10
    assert (Path(v1.path) / "model.safetensors").read_bytes() == WEIGHTS_V0  # never changed
    report = await hgloc.verify_locked(
        await hgloc.lock([f"{repo_id}@v1.0"], config=config), config=config
    )
    assert report.ok


async def test_offline_a_tag_finds_the_commit_last_seen(
    config: Config, repo_id: str, hub: HubEmulator
) -> None:
    ok, path = await hgloc.download_model_metadata(repo_id, "v1.0", config=config)
    assert ok
    offline = attrs.evolve(config, offline=True)
    hub.reset_requests()
    card = await hgloc.get_cached_model_card_content(repo_id, "v1.0", config=offline)
    assert card == "# v0\n"
    refs = await hgloc.stored_refs(repo_id, config=offline)
    assert [(r.revision, r.commit) for r in refs] == [("v1.0", hub.repos[repo_id].commit_sha(0))]
    report = await hgloc.refs(repo_id, config=offline)
    assert not report.online
    assert [(r.name, r.stored_commit, r.state) for r in report.rows] == [
        ("v1.0", hub.repos[repo_id].commit_sha(0), RefState.OFFLINE)
    ]
    # Offline, the folder named after the tag answers the download too: no request.
    ok, again = await hgloc.download_model_metadata(repo_id, "v1.0", config=offline)
    assert ok and again == path
    assert not hub.requests


async def test_a_commit_finds_the_branch_stored_at_it(
    config: Config, repo_id: str, hub: HubEmulator
) -> None:
    """A commit never changes: the folder of a name that resolved to it answers for it."""
    repo = hub.repos[repo_id]
    main = await hgloc.download_model_metadata(repo_id, "main", config=config)
    assert main[0]
    head = repo.commit_sha(2)
    offline = attrs.evolve(config, offline=True)
    hub.reset_requests()
    card = await hgloc.get_cached_model_card_content(repo_id, head, config=offline)
    assert card == "# v1\n"
    config_json = await hgloc.get_cached_model_config_content(repo_id, head, config=offline)
    assert config_json == json.loads(CONFIG)
    # Downloading the commit gives it its own folder, as the layout has it, from main's
    # files (hard links) and without a request, offline or not.
    ok, by_commit = await hgloc.download_model_metadata(repo_id, head, config=offline)
    assert ok and by_commit != main[1] and Path(by_commit).name == head
    for name in ("model_card.md", "config.json"):
        assert _inode(by_commit, name) == _inode(main[1], name)
    report = await hgloc.prefetch([f"{repo_id}@{head}"], config=config)
    assert report.ok and report.results[0].status.value == "skipped"
    assert report.results[0].path == by_commit
    assert not hub.requests
    # Another commit is not held: offline, it is not found.
    other = repo.commit_sha(0)
    assert await hgloc.get_cached_model_card_content(repo_id, other, config=offline) is None
    assert await hgloc.get_cached_model_card_content(repo_id, head[:12], config=offline) is None


def test_show_model_config_by_commit_offline(repo_id: str, hub: HubEmulator, run: Run) -> None:
    assert run("prefetch", f"{repo_id}@main").exit_code == 0
    head = hub.repos[repo_id].commit_sha(2)
    shown = run("show-model-config", repo_id, "--revision", head, env={"HF_HUB_OFFLINE": "1"})
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == json.loads(CONFIG)


async def test_refs_show_hub_and_store_side_by_side(
    config: Config, repo_id: str, hub: HubEmulator
) -> None:
    repo = hub.repos[repo_id]
    async with Localizer(config) as loc:
        await loc.download(repo_id, "main")
        await loc.download(repo_id, "v1.0")
        await loc.download(repo_id, repo.commit_sha(1))
    hub.push_commit(repo_id, {"README.md": b"# newer\n"})  # main moves on
    report = await hgloc.refs(repo_id, config=config)
    rows = {r.name: r for r in report.rows}
    assert rows["main"].state is RefState.BEHIND
    assert rows["main"].stored_commit == repo.commit_sha(2)
    assert rows["main"].hub_commit == repo.commit_sha(3)
    assert rows["v1.0"].state is RefState.CURRENT and rows["v1.0"].kind == "tag"
    assert rows["stable"].state is RefState.NOT_STORED
    assert rows["v2.0"].state is RefState.NOT_STORED
    assert rows[repo.commit_sha(1)].state is RefState.PINNED
    assert [r.name for r in report.behind] == ["main"]


def test_refs_command(config: Config, repo_id: str, hub: HubEmulator, run: Run) -> None:
    repo = hub.repos[repo_id]
    assert (
        run(
            "prefetch", f"{repo_id}@main", f"{repo_id}@v1.0", f"{repo_id}@{repo.commit_sha(1)}"
        ).exit_code
        == 0
    )
    hub.push_commit(repo_id, {"README.md": b"# newer\n"})  # main moves on
    result = run("refs", repo_id, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    states = {r["name"]: r["state"] for r in data["refs"]}
    assert states == {
        "main": "behind",
        "stable": "not stored",
        "v1.0": "current",
        "v2.0": "not stored",
        repo.commit_sha(1): "pinned",
    }
    table = run("refs", repo_id)
    assert table.exit_code == 0
    assert "behind" in table.output and repo.commit_sha(3)[:8] in table.output
    assert run("refs", f"{repo_id}@main").exit_code == 2


async def test_stock_client_reads_the_emulators_refs(hub: HubEmulator, repo_id: str) -> None:
    import anyio.to_thread
    from huggingface_hub import HfApi

    refs = await anyio.to_thread.run_sync(lambda: HfApi(endpoint=hub.url).list_repo_refs(repo_id))
    assert {b.name for b in refs.branches} == {"main", "stable"}
    assert {t.name: t.target_commit for t in refs.tags} == {
        "v1.0": hub.repos[repo_id].commit_sha(0),
        "v2.0": hub.repos[repo_id].commit_sha(1),
    }
