"""``--upstream``: a miss is fetched from the upstream Hub, stored, then served; once per burst."""

from __future__ import annotations

import collections
import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx2
import hub_fixtures
import pytest

from hgloc import CachedModel, Localizer
from hgloc.config import Config
from hgloc.serve import create_app
from hgloc_testing import HubEmulator

from .conftest import (
    CARD_V2,
    CARDS,
    CONFIG_V1,
    CONFIG_V2,
    LEGACY,
    LEGACY_CONFIG,
    TINY,
    running,
    upstream_repos,
)

HERE = Path(__file__).resolve().parent


class PullThrough:
    """A fresh upstream Hub, an empty store, and a pull-through server on them."""

    def __init__(self, hub: HubEmulator, store: Path, url: str) -> None:
        self.hub = hub
        self.store = store
        self.url = url

    def cached(self, model_id: str, revision: str | None = None) -> CachedModel | None:
        async def main() -> CachedModel | None:
            async with Localizer(Config(models_store_path=self.store)) as loc:
                return await loc.cached(model_id, revision)

        return anyio.run(main)

    def upstream_paths(self) -> collections.Counter[str]:
        """How many times upstream was asked for each path (query left out)."""
        return collections.Counter(r.path for r in self.hub.requests)


@pytest.fixture(scope="module")
def pull(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PullThrough]:
    hub = HubEmulator(upstream_repos(tiny_model_dir))
    store = tmp_path_factory.mktemp("pull-store")
    with hub.run_in_thread() as hub_url:
        app = create_app(Config(models_store_path=store), upstream=hub_url)
        with running(app) as url:
            yield PullThrough(hub, store, url)


def get(url: str, **kwargs: Any) -> httpx2.Response:
    return httpx2.get(url, timeout=60, **kwargs)


def test_a_config_request_fetches_the_metadata_only(pull: PullThrough) -> None:
    assert pull.cached(CARDS) is None
    r = get(f"{pull.url}/{CARDS}/resolve/main/config.json")
    assert r.status_code == 200 and r.content == CONFIG_V2
    cards = pull.hub.repos[CARDS]
    assert r.headers["x-repo-commit"] == cards.commit_sha(cards.head())
    cached = pull.cached(CARDS)
    assert cached is not None and not cached.is_full_model
    assert not any(p.endswith("weights.bin") for p in pull.upstream_paths())
    assert get(f"{pull.url}/{CARDS}/resolve/main/README.md").content == CARD_V2  # now local


def test_a_burst_for_one_missing_file_fetches_it_once(pull: PullThrough) -> None:
    url = f"{pull.url}/{TINY}/resolve/main/model.safetensors"
    pull.hub.faults.latency = 0.1  # the fetch takes a while: the whole burst waits on it
    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            answers = list(pool.map(lambda _: get(url), range(48)))
    finally:
        pull.hub.faults.latency = 0.0
    weights = pull.hub.repos[TINY].commits[0]["model.safetensors"]
    assert {a.status_code for a in answers} == {200}
    assert {a.content for a in answers} == {weights}
    assert {a.headers["etag"] for a in answers} == {f'"{hashlib.sha256(weights).hexdigest()}"'}
    fetched = {p: n for p, n in pull.upstream_paths().items() if TINY in p and "/api/" not in p}
    assert fetched and all(n == 1 for n in fetched.values()), fetched  # every file once
    cached = pull.cached(TINY)
    assert cached is not None and cached.is_full_model


def test_a_tree_listing_completes_a_metadata_only_model_at_its_commit(pull: PullThrough) -> None:
    assert get(f"{pull.url}/{CARDS}/resolve/v1.0/config.json").content == CONFIG_V1
    before = pull.cached(CARDS, "v1.0")
    assert before is not None and not before.is_full_model
    listing = get(f"{pull.url}/api/models/{CARDS}/tree/v1.0", params={"recursive": "true"})
    assert [e["path"] for e in listing.json()] == ["README.md", "config.json", "weights.bin"]
    after = pull.cached(CARDS, "v1.0")
    assert after is not None and after.is_full_model and after.commit == before.commit
    weights = get(f"{pull.url}/{CARDS}/resolve/{before.commit}/weights.bin")
    assert weights.content == pull.hub.repos[CARDS].commits[0]["weights.bin"]


def test_a_probe_for_a_file_upstream_lacks_downloads_nothing(pull: PullThrough) -> None:
    assert get(f"{pull.url}/{LEGACY}/resolve/main/config.json").content == LEGACY_CONFIG
    pull.hub.reset_requests()
    r = get(f"{pull.url}/{LEGACY}/resolve/main/adapter_config.json")
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
    assert [p for p in pull.upstream_paths() if "/resolve/" in p or "/cdn/" in p] == []
    cached = pull.cached(LEGACY)
    assert cached is not None and not cached.is_full_model


def test_model_info_fetches_the_metadata(pull: PullThrough) -> None:
    info = get(f"{pull.url}/api/models/{CARDS}/revision/main").json()
    assert info["id"] == CARDS
    assert {s["rfilename"] for s in info["siblings"]} >= {"README.md", "config.json"}


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/nobody/nothing/resolve/main/config.json", "RepoNotFound"),
        ("/api/models/nobody/nothing", "RepoNotFound"),
        (f"/{CARDS}/resolve/v9/config.json", "RevisionNotFound"),
        (f"/api/models/{CARDS}/tree/v9", "RevisionNotFound"),
    ],
)
def test_upstream_errors_become_the_hub_codes(pull: PullThrough, path: str, code: str) -> None:
    r = get(pull.url + path)
    assert r.status_code == 404
    assert r.headers["x-error-code"] == code


def test_a_burst_for_a_missing_repo_asks_upstream_once(pull: PullThrough) -> None:
    pull.hub.reset_requests()
    url = f"{pull.url}/nobody/burst/resolve/main/config.json"
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: get(url), range(32)))
    assert {a.headers["x-error-code"] for a in answers} == {"RepoNotFound"}
    # One fetch asks for the card and the config at once; when the first answer fails,
    # the other request may be cancelled before it is sent.
    asked = collections.Counter(r.path for r in pull.hub.requests)
    assert set(asked) <= {"/nobody/burst/resolve/main/README.md", url.replace(pull.url, "")}
    assert all(n == 1 for n in asked.values()), asked


def test_an_unreachable_upstream_answers_502(tmp_path: Path) -> None:
    app = create_app(
        Config(models_store_path=tmp_path, max_retries=0, request_timeout=2),
        upstream="http://127.0.0.1:9",  # discard port: nothing listens
    )
    with running(app) as url:
        r = get(f"{url}/{CARDS}/resolve/main/config.json")
    assert r.status_code == 502
    assert "upstream" in r.headers["x-error-message"]


def test_stock_clients_through_an_empty_pull_through_server(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """huggingface_hub and AutoConfig against an empty store: everything comes through."""
    hub = HubEmulator(upstream_repos(tiny_model_dir))
    store = tmp_path / "store"
    with hub.run_in_thread() as hub_url:
        app = create_app(Config(models_store_path=store), upstream=hub_url)
        with running(app) as url:
            cards = hub.repos[CARDS]
            args = {
                "url": url,
                "tiny_dir": str(tiny_model_dir),
                "cards_v1": cards.commit_sha(cards.tags["v1.0"]),
                "checks": ["auto_config", "downloads", "snapshot", "card"],
            }
            proc = subprocess.run(
                [sys.executable, str(HERE / "_client_checks.py"), json.dumps(args)],
                env=hub_fixtures.hf_subprocess_env(url, tmp_path / "hf_home"),
                capture_output=True,
                text=True,
                timeout=300,
            )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["elsewhere"] == []
    for check in args["checks"]:
        assert "error" not in out[check], out[check]
    assert out["auto_config"]["cards"] == ["bert", 32]
    assert out["card"]["license"] == "mit"
    assert len(out["snapshot"]) == len(hub.repos[TINY].commits[0])

    async def held() -> dict[str, bool]:
        async with Localizer(Config(models_store_path=store)) as loc:
            return {f"{m.model_id}@{m.revision}": m.is_full_model for m in await loc.list_models()}

    # AutoConfig and single downloads fetched metadata; snapshot_download, the whole repo.
    assert anyio.run(held) == {
        f"{CARDS}@None": False,
        f"{CARDS}@v1.0": False,
        f"{LEGACY}@None": False,
        f"{TINY}@None": True,
    }


def test_pull_through_into_the_bucket(
    moto: Any, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With --s3, what is fetched lands in the bucket and is served from there."""
    from .conftest import bucket_config

    hub = HubEmulator(upstream_repos(tiny_model_dir))
    bucket = moto.create_bucket(f"hgloc-pull-{uuid.uuid4().hex[:12]}")
    with hub.run_in_thread() as hub_url:
        config = bucket_config(moto, bucket, tmp_path_factory.mktemp("pull-s3-staging"))
        with running(create_app(config, s3=True, upstream=hub_url)) as url:
            assert get(f"{url}/{CARDS}/resolve/main/config.json").content == CONFIG_V2
            weights = get(f"{url}/{CARDS}/resolve/main/weights.bin")
            assert weights.content == hub.repos[CARDS].commits[1]["weights.bin"]
            listing = get(f"{url}/api/models/{CARDS}/tree/main").json()
            assert [e["path"] for e in listing] == ["README.md", "config.json", "weights.bin"]

    async def in_bucket() -> tuple[bool, list[str]]:
        reader = bucket_config(moto, bucket, tmp_path_factory.mktemp("reader"))
        async with Localizer(reader) as loc:
            tier = await loc.bucket()
            assert tier is not None
            record = await tier.load(CARDS, None)
            assert record is not None
            return record.is_full_model, sorted(r.repo_path for r in record.files.values())

    assert anyio.run(in_bucket) == (True, ["README.md", "config.json", "weights.bin"])
