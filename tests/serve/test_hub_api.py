"""Stock huggingface_hub, with hf_xet installed, against ``hgloc serve`` in front of a Xet-era Hub.

The upstream is the emulator in its Xet mode, answering as the Hub does today
(``X-Xet-Hash``, ``Link: rel="xet-auth"``, signed expiring CDN links on
``/resolve/``, ``xetHash`` in tree entries). Straight from it, a client with
hf_xet goes for ``xet-read-token``; through serve, every byte comes from serve:
the hints never pass. Also: the rest of the API (listing, refs, commits,
paths-info, the filesystem), a renamed repo, and who may read gated and
private repos.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from hgloc.config import Config
from hgloc.serve import create_app
from hgloc_testing import HubApp, Repo, XetMode, run_asgi_in_thread

from .conftest import running

WEIGHTS = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB, an LFS file
MODEL = "acme/tiny-model"
GATED = "acme/gated"
PRIVATE = "acme/private"
RENAMED_OLD, RENAMED_NEW = "old-name", "acme/new-name"
OPERATOR, GRANTED, STRANGER = "hf_operator", "hf_granted", "hf_stranger"
CARD = b"---\nlicense: mit\ntags:\n- xet-test\n---\n# card\n"


def repos() -> list[Repo]:
    files = {
        "README.md": CARD,
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": WEIGHTS,
        "sub/notes.txt": b"notes\n",
    }
    return [
        Repo(MODEL, [files], tags={"v1.0": 0}),
        Repo(
            GATED,
            [{"README.md": b"# gated\n", "config.json": b"{}", "w.bin": b"w" * 100}],
            gated="auto",
        ),
        Repo(PRIVATE, [{"README.md": b"# private\n", "config.json": b"{}"}], private=True),
        Repo(RENAMED_NEW, [{"README.md": b"# renamed\n", "config.json": b'{"a": 1}'}]),
    ]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[HubApp, str]]:
    """The emulator as the Hub is today: every LFS file Xet-backed, with the hints."""
    app = HubApp(
        repos(),
        renames={RENAMED_OLD: RENAMED_NEW},
        tokens={OPERATOR: "acme", GRANTED: [GATED, PRIVATE], STRANGER: []},
        reject_invalid_tokens=True,
        xet=XetMode(),
    )
    with run_asgi_in_thread(app, name="xet-hub") as url:
        yield app, url


def pull_through(store: Path, upstream_url: str, **options: Any) -> Any:
    return create_app(Config(models_store_path=store, hf_token=OPERATOR), upstream=upstream_url,
                      **options)  # fmt: skip


@pytest.fixture(scope="module")
def served(upstream: tuple[HubApp, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A pull-through server on an empty store; clients' own Hub tokens checked upstream.

    Tree pages of two entries: every client here must follow ``Link: rel="next"``.
    """
    app = pull_through(tmp_path_factory.mktemp("xet-store"), upstream[1], check_client_tokens=True)
    app.service.page_size = 2
    with running(app) as url:
        yield url


def no_xet_hint(response: httpx2.Response) -> bool:
    names = {k.lower() for k in response.headers}
    links = response.headers.get_list("link") if "link" in names else []
    return not any(n.startswith("x-xet-") for n in names) and not any("xet" in v for v in links)


def test_the_wrapper_sends_hf_xet_clients_to_the_cas(
    upstream: tuple[HubApp, str], tmp_path: Path
) -> None:
    from huggingface_hub.utils._runtime import is_xet_available

    if not is_xet_available():
        pytest.skip("hf_xet is not installed (or HF_HUB_DISABLE_XET is set)")
    app, url = upstream
    assert app.xet is not None
    before = app.xet.read_token_requests
    with pytest.raises(Exception):  # noqa: B017 - the emulator has no CAS
        hf_hub_download(MODEL, "model.safetensors", endpoint=url, cache_dir=tmp_path, token=False)
    assert app.xet.read_token_requests > before, "the hints did not send the client to Xet"


def test_snapshot_download_with_hf_xet_gets_every_byte_through_serve(
    served: str, upstream: tuple[HubApp, str], tmp_path: Path
) -> None:
    from huggingface_hub.utils._runtime import is_xet_available

    assert is_xet_available(), "this test is about clients that have hf_xet"
    app, _ = upstream
    assert app.xet is not None
    before = app.xet.read_token_requests
    folder = Path(snapshot_download(MODEL, endpoint=served, cache_dir=tmp_path, token=False))
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "sub" / "notes.txt").read_bytes() == b"notes\n"
    assert app.xet.read_token_requests == before  # nobody asked for a Xet token
    head = httpx2.head(f"{served}/{MODEL}/resolve/main/model.safetensors")
    assert head.status_code == 200 and no_xet_hint(head)
    tree = httpx2.get(f"{served}/api/models/{MODEL}/tree/main", params={"recursive": "true"})
    assert tree.status_code == 200 and "xetHash" not in tree.text and no_xet_hint(tree)


def test_the_rest_of_the_api_through_serve(served: str, upstream: tuple[HubApp, str]) -> None:
    api = HfApi(endpoint=served, token=False)
    api.model_info(MODEL)  # held now (the test above, or fetched here)
    assert [m.id for m in api.list_models(search="tiny-mod")] == [MODEL]
    assert MODEL in {m.id for m in api.list_models(author="acme")}
    assert [m.id for m in api.list_models(filter="xet-test")] == [MODEL]
    refs = api.list_repo_refs(MODEL)
    assert [b.name for b in refs.branches] == ["main"]
    commit = refs.branches[0].target_commit
    assert [c.commit_id for c in api.list_repo_commits(MODEL)] == [commit]
    infos = api.get_paths_info(MODEL, ["sub", "model.safetensors", "nope"])
    assert [(type(i).__name__, i.path) for i in infos] == [
        ("RepoFolder", "sub"),
        ("RepoFile", "model.safetensors"),
    ]
    assert infos[1].lfs is not None and infos[1].lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    paths_info = httpx2.post(
        f"{served}/api/models/{MODEL}/paths-info/main", data={"paths": ["model.safetensors"]}
    )
    assert "xetHash" not in paths_info.text
    fs = HfFileSystem(endpoint=served, token=False, skip_instance_cache=True)
    assert sorted(fs.ls(MODEL, detail=False)) == [
        f"{MODEL}/README.md",
        f"{MODEL}/config.json",
        f"{MODEL}/model.safetensors",
        f"{MODEL}/sub",
    ]
    assert fs.info(f"{MODEL}/model.safetensors")["size"] == len(WEIGHTS)


def test_tree_and_listings_page_with_link_next(served: str) -> None:
    for repo_id in (MODEL, RENAMED_NEW):  # two models held, at least
        HfApi(endpoint=served, token=False).model_info(repo_id)
    first = httpx2.get(f"{served}/api/models/{MODEL}/tree/main", params={"recursive": "true"})
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["link"]
    paths: list[str] = []
    url: str | None = first.url.__str__()
    while url is not None and len(paths) < 20:
        page = httpx2.get(url)
        paths += [e["path"] for e in page.json()]
        url = page.links.get("next", {}).get("url")
    assert paths == ["README.md", "config.json", "model.safetensors", "sub", "sub/notes.txt"]
    files = HfApi(endpoint=served, token=False).list_repo_files(MODEL)
    assert sorted(files) == ["README.md", "config.json", "model.safetensors", "sub/notes.txt"]
    listing = httpx2.get(f"{served}/api/models", params={"limit": 1, "search": "acme/"})
    assert len(listing.json()) == 1 and 'rel="next"' in listing.headers["link"]
    second = httpx2.get(listing.links["next"]["url"]).json()
    assert len(second) == 1 and second[0]["id"] != listing.json()[0]["id"]


def test_a_renamed_repo_answers_under_both_names(served: str, tmp_path: Path) -> None:
    old = hf_hub_download(RENAMED_OLD, "config.json", endpoint=served, cache_dir=tmp_path)
    assert Path(old).read_bytes() == b'{"a": 1}'
    api = HfApi(endpoint=served, token=False)
    assert api.model_info(RENAMED_NEW).id == RENAMED_NEW
    assert api.model_info(RENAMED_OLD).sha == api.model_info(RENAMED_NEW).sha
    new = hf_hub_download(RENAMED_NEW, "config.json", endpoint=served, cache_dir=tmp_path / "n")
    assert Path(new).read_bytes() == b'{"a": 1}'


def test_a_gated_model_needs_a_token_the_upstream_accepts(served: str, tmp_path: Path) -> None:
    with pytest.raises(GatedRepoError) as anonymous:
        hf_hub_download(GATED, "config.json", endpoint=served, cache_dir=tmp_path, token=False)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as stranger:
        hf_hub_download(GATED, "config.json", endpoint=served, cache_dir=tmp_path, token=STRANGER)
    assert stranger.value.response.status_code == 403
    got = hf_hub_download(GATED, "w.bin", endpoint=served, cache_dir=tmp_path, token=GRANTED)
    assert Path(got).read_bytes() == b"w" * 100
    # As on the Hub: the card and the model info stay readable, and say "gated".
    info = HfApi(endpoint=served, token=False).model_info(GATED)
    assert info.gated == "auto" and info.private is False
    card = httpx2.get(f"{served}/{GATED}/resolve/main/README.md")
    assert card.status_code == 200


def test_a_private_model_is_invisible_without_a_token_the_upstream_accepts(
    served: str, tmp_path: Path
) -> None:
    for token in (False, STRANGER):
        with pytest.raises(RepositoryNotFoundError):
            HfApi(endpoint=served, token=token).model_info(PRIVATE)
    info = HfApi(endpoint=served, token=GRANTED).model_info(PRIVATE)
    assert info.private is True
    listed = {m.id for m in HfApi(endpoint=served, token=False).list_models(author="acme")}
    assert PRIVATE not in listed
    r = httpx2.get(f"{served}/{PRIVATE}/resolve/main/config.json")
    assert r.status_code == 401 and r.headers["x-error-code"] == "RepoNotFound"


def test_without_a_way_to_trust_clients_gated_and_private_are_refused(
    upstream: tuple[HubApp, str], tmp_path: Path
) -> None:
    with running(pull_through(tmp_path / "store", upstream[1])) as url:
        r = httpx2.get(
            f"{url}/{GATED}/resolve/main/w.bin", headers={"authorization": f"Bearer {GRANTED}"}
        )
        assert r.status_code == 403 and r.headers["x-error-code"] == "GatedRepo"
        assert httpx2.get(f"{url}/{GATED}/resolve/main/w.bin").status_code == 401
        assert httpx2.get(f"{url}/api/models/{PRIVATE}").status_code == 401


def test_serves_own_token_trusts_its_clients(upstream: tuple[HubApp, str], tmp_path: Path) -> None:
    with running(pull_through(tmp_path / "store", upstream[1], token="serve-secret")) as url:
        auth = {"authorization": "Bearer serve-secret"}
        r = httpx2.get(f"{url}/{GATED}/resolve/main/w.bin", headers=auth)
        assert r.status_code == 200 and r.content == b"w" * 100
        info = httpx2.get(f"{url}/api/models/{PRIVATE}", headers=auth).json()
        assert info["private"] is True
