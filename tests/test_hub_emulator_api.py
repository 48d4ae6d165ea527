"""The emulator answers the rest of the API as the Hub does: stock huggingface_hub proves it.

``list_models`` (search, author, filter, sort, limit, paging), ``list_repo_refs``,
``list_repo_commits``, ``get_paths_info``, ``HfFileSystem.ls`` and ``auth_check``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from huggingface_hub import HfApi, HfFileSystem
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from hgloc_testing import HubEmulator, Repo

CARD = b"---\nlicense: mit\ntags:\n- vision\n---\n# card\n"


def repos() -> list[Repo]:
    out = [
        Repo(
            "acme/history",
            [{"README.md": CARD, "config.json": b"{}"}, {"README.md": CARD, "a/b.txt": b"b"}],
            tags={"v1.0": 0},
            branches={"main": 1, "dev": 0, "refs/pr/1": 1},
            downloads=5,
        ),
        Repo("acme/gated", [{"README.md": b"# g\n", "w.bin": b"w"}], gated="auto", downloads=9),
        Repo("acme/secret", [{"README.md": b"# s\n"}], private=True),
        Repo("gpt2", [{"README.md": b"# legacy\n"}], downloads=1),
    ]
    out += [Repo(f"bulk/model-{i:02d}", [{"README.md": b"# bulk\n"}]) for i in range(25)]
    return out


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator(repos(), tokens={"hf_acme": "acme"})
    with emulator.run_in_thread():
        yield emulator


def test_list_models_searches_filters_sorts_and_pages(hub: HubEmulator) -> None:
    api = HfApi(endpoint=hub.url, token=False)
    assert [m.id for m in api.list_models(search="HIST")] == ["acme/history"]
    assert {m.id for m in api.list_models(author="acme")} == {"acme/history", "acme/gated"}
    assert [m.id for m in api.list_models(filter="vision")] == ["acme/history"]
    ranked = [m.id for m in api.list_models(author="acme", sort="downloads")]
    assert ranked == ["acme/gated", "acme/history"]
    bulk = [m.id for m in api.list_models(search="bulk/", limit=10)]
    assert bulk == [f"bulk/model-{i:02d}" for i in range(10)]
    assert len(list(api.list_models(search="bulk/"))) == 25
    # A page of `limit` items, the next one named by the Link header.
    page = httpx2.get(f"{hub.url}/api/models", params={"search": "bulk/", "limit": 10})
    assert len(page.json()) == 10 and 'rel="next"' in page.headers["link"]
    second = httpx2.get(page.links["next"]["url"])
    assert [m["id"] for m in second.json()] == [f"bulk/model-{i:02d}" for i in range(10, 20)]


def test_private_models_are_listed_only_for_a_token_that_sees_them(hub: HubEmulator) -> None:
    anonymous = {m.id for m in HfApi(endpoint=hub.url, token=False).list_models(author="acme")}
    granted = {m.id for m in HfApi(endpoint=hub.url, token="hf_acme").list_models(author="acme")}
    assert "acme/secret" not in anonymous and "acme/secret" in granted


def test_refs_and_commits(hub: HubEmulator) -> None:
    api = HfApi(endpoint=hub.url, token=False)
    repo = hub.repos["acme/history"]
    refs = api.list_repo_refs("acme/history", include_pull_requests=True)
    assert {(b.name, b.target_commit) for b in refs.branches} == {
        ("main", repo.commit_sha(1)),
        ("dev", repo.commit_sha(0)),
    }
    assert [(t.name, t.ref) for t in refs.tags] == [("v1.0", "refs/tags/v1.0")]
    assert [p.ref for p in refs.pull_requests or []] == ["refs/pr/1"]
    commits = api.list_repo_commits("acme/history")
    assert [c.commit_id for c in commits] == [repo.commit_sha(1), repo.commit_sha(0)]
    assert [c.commit_id for c in api.list_repo_commits("acme/history", revision="v1.0")] == [
        repo.commit_sha(0)
    ]
    assert api.list_repo_refs("gpt2").branches[0].name == "main"


def test_paths_info_and_the_filesystem(hub: HubEmulator) -> None:
    api = HfApi(endpoint=hub.url, token=False)
    infos = api.get_paths_info("acme/history", ["a", "a/b.txt", "missing.txt", "README.md"])
    assert [(type(i).__name__, i.path) for i in infos] == [
        ("RepoFolder", "a"),
        ("RepoFile", "a/b.txt"),
        ("RepoFile", "README.md"),
    ]
    assert [i.path for i in api.get_paths_info("acme/history", "README.md", revision="v1.0")] == [
        "README.md"
    ]
    fs = HfFileSystem(endpoint=hub.url, token=False, skip_instance_cache=True)
    assert sorted(fs.ls("acme/history", detail=False)) == [
        "acme/history/README.md",
        "acme/history/a",
    ]
    assert fs.info("acme/history/a/b.txt")["size"] == 1


def test_auth_check_tells_who_may_read_a_gated_repo(hub: HubEmulator) -> None:
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=hub.url, token=False).auth_check("acme/gated")
    HfApi(endpoint=hub.url, token="hf_acme").auth_check("acme/gated")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=False).auth_check("acme/secret")
