"""The async core against the Hub emulator, through the public API, on every local store."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import huggingface_hub.errors as hf_errors
import pytest
from hub_fixtures import UNGRANTED_TOKEN, corpus_hub

import hgloc
from hgloc import Config, Localizer, Status
from hgloc.backends import LocalBackend, MemoryBackend, StorageBackend
from hgloc.errors import (
    GatedRepoError,
    HglocError,
    HubError,
    HubUnavailableError,
    IntegrityError,
    InvalidModelIdError,
    LayoutCollisionError,
    OfflineModeError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from hgloc.layout import METADATA_FILE
from hgloc.sources import Backoff, RetryPolicy, git_blob_sha1
from hgloc_testing import SPECIAL_TOKEN, HubEmulator, Repo

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_retries=4, backoff=Backoff(base=0.01, cap=0.05))
BAD_IDS = ["../x", "/etc/passwd", "a/../../b", "a//b", "x" * 300, "a\x00b", "org/n\u0430me"]
BAD_REVISIONS = ["../x", "/etc/passwd", "a/../../b", "a//b", "r" * 300, "a\x00b"]


@pytest.fixture(scope="module")
def module_hub() -> Iterator[HubEmulator]:
    emulator = corpus_hub(40)
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub(module_hub: HubEmulator) -> HubEmulator:
    module_hub.reset_requests()
    module_hub.faults = type(module_hub.faults)()
    return module_hub


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StorageBackend:
    if request.param == "local":
        return LocalBackend(tmp_path / "store")
    return MemoryBackend()


@pytest.fixture
def config(hub: HubEmulator, tmp_path: Path) -> Config:
    assert hub.url
    return Config(models_store_path=tmp_path / "store", hf_endpoint=hub.url, offline=False)


@pytest.fixture
async def loc(config: Config, store: StorageBackend) -> AsyncIterator[Localizer]:
    async with Localizer(config, backend=store, retry=FAST_RETRY, concurrency=16) as localizer:
        yield localizer


def resolves(hub: HubEmulator) -> list[str]:
    return [r.path for r in hub.requests if "/resolve/" in r.path]


async def snapshot(store: StorageBackend) -> dict[str, bytes]:
    return {info.key: await store.read(info.key) async for info in store.list()}


# -- one model -------------------------------------------------------------------------------


async def test_download_stores_card_config_and_metadata(
    loc: Localizer, hub: HubEmulator, store: StorageBackend
) -> None:
    repo = hub.repos["hgloc-test/unicode-card"]
    result = await loc.download("hgloc-test/unicode-card")
    assert result.status is Status.FETCHED
    head = repo.commit_sha(repo.head())
    assert result.commit == head
    prefix = "hgloc-test_unicode-card/default_revision"
    source = repo.commits[repo.head()]
    assert await store.read(f"{prefix}/model_card.md") == source["README.md"]
    assert await store.read(f"{prefix}/config.json") == source["config.json"]
    meta = json.loads(await store.read(f"{prefix}/{METADATA_FILE}"))
    assert meta["model_id"] == "hgloc-test/unicode-card"
    assert meta["revision"] is None
    assert meta["commit"] == head
    assert meta["type"] == "model" and meta["is_public"] is False
    assert meta["files"]["config.json"]["git_sha1"] == git_blob_sha1(source["config.json"])
    assert meta["files"]["model_card.md"]["repo_path"] == "README.md"
    assert result.path == store.location(prefix)
    card = await loc.cached_card("hgloc-test/unicode-card")
    assert card is not None and "多言語モデル" in card


async def test_cached_model_makes_no_request(loc: Localizer, hub: HubEmulator) -> None:
    await loc.download("hgloc-test/config-nan")
    hub.reset_requests()
    result = await loc.download("hgloc-test/config-nan")
    assert result.status is Status.SKIPPED
    assert hub.requests == []


async def test_refresh_refetches_only_when_the_commit_moved(
    loc: Localizer, hub: HubEmulator
) -> None:
    hub.add_repo(Repo("hgloc-test/moving", [{"README.md": b"# v1\n", "config.json": b"{}"}]))
    first = await loc.download("hgloc-test/moving")
    hub.reset_requests()
    same = await loc.download("hgloc-test/moving", refresh=True)
    assert same.status is Status.SKIPPED and same.commit == first.commit
    assert resolves(hub) == [] and len(hub.requests) == 1  # one cheap commit check
    new_commit = hub.push_commit("hgloc-test/moving", {"README.md": b"# v2\n"})
    moved = await loc.download("hgloc-test/moving", refresh=True)
    assert moved.status is Status.FETCHED and moved.commit == new_commit
    assert await loc.cached_card("hgloc-test/moving") == "# v2\n"


async def test_revisions_by_branch_tag_and_commit_are_kept_apart(
    loc: Localizer, hub: HubEmulator
) -> None:
    repo = hub.repos["hgloc-test/revisions"]
    tag = await loc.download("hgloc-test/revisions", "v1.0")
    pr = await loc.download("hgloc-test/revisions", "refs/pr/1")
    main = await loc.download("hgloc-test/revisions")
    by_commit = await loc.download("hgloc-test/revisions", repo.commit_sha(1))
    assert tag.commit == repo.commit_sha(0)
    assert pr.commit == by_commit.commit == repo.commit_sha(1)
    assert main.commit == repo.commit_sha(2)
    assert len({tag.path, pr.path, main.path, by_commit.path}) == 4
    v1 = await loc.cached_config("hgloc-test/revisions", "v1.0")
    head = await loc.cached_config("hgloc-test/revisions")
    assert v1 is not None and head is not None
    assert (v1["n_layer"], head["n_layer"]) == (12, 36)


async def test_renamed_repo_is_followed_and_stored_under_the_requested_id(
    loc: Localizer,
) -> None:
    result = await loc.download("tiny-gpt2")
    assert result.status is Status.FETCHED
    [model] = [m for m in await loc.list_models() if m.model_id == "tiny-gpt2"]
    assert model.has_card and model.has_config


async def test_card_only_and_config_only_repos_keep_what_they_have(loc: Localizer) -> None:
    await loc.download("hgloc-test/card-only")
    await loc.download("hgloc-test/config-only")
    models = {m.model_id: m for m in await loc.list_models()}
    assert (models["hgloc-test/card-only"].has_card, models["hgloc-test/card-only"].has_config) == (
        True,
        False,
    )
    assert models["hgloc-test/config-only"].has_config
    assert not models["hgloc-test/config-only"].has_card
    assert await loc.cached_config("hgloc-test/card-only") is None


async def test_repo_with_neither_is_an_error_and_stores_nothing(
    loc: Localizer, store: StorageBackend
) -> None:
    with pytest.raises(HubError, match=r"neither README\.md nor config\.json"):
        await loc.download("hgloc-test/empty")
    assert await snapshot(store) == {}


async def test_nan_config_and_huge_card_are_cached_as_is(loc: Localizer, hub: HubEmulator) -> None:
    await loc.download("hgloc-test/config-nan")
    await loc.download("hgloc-test/huge-card")
    config = await loc.cached_config("hgloc-test/config-nan")
    assert config is not None
    assert any(v != v for v in config.values() if isinstance(v, float))  # NaN survived
    card = await loc.cached_card("hgloc-test/huge-card")
    source = hub.repos["hgloc-test/huge-card"].commits[-1]["README.md"]
    assert card is not None and card.encode() == source and len(source) > 300_000


async def test_missing_repo_and_revision_raise_the_errors_users_catch(
    loc: Localizer, store: StorageBackend
) -> None:
    with pytest.raises(RepositoryNotFoundError, match="HF_TOKEN") as repo_info:
        await loc.download("nobody/nothing")
    assert isinstance(repo_info.value, hf_errors.RepositoryNotFoundError)
    with pytest.raises(RevisionNotFoundError) as rev_info:
        await loc.download("hgloc-test/revisions", "no-such-branch")
    assert isinstance(rev_info.value, hf_errors.RevisionNotFoundError)
    assert "no-such-branch" in str(rev_info.value)
    assert await snapshot(store) == {}


async def test_gated_repo_says_to_accept_terms_and_set_token(
    config: Config, store: StorageBackend
) -> None:
    for token in (None, UNGRANTED_TOKEN):
        cfg = Config(**{**_fields(config), "hf_token": token})
        async with Localizer(cfg, backend=store, retry=FAST_RETRY) as loc:
            with pytest.raises(GatedRepoError) as info:
                await loc.download("hgloc-test/gated")
        assert isinstance(info.value, hf_errors.GatedRepoError)
        assert "accept its terms" in str(info.value) and "HF_TOKEN" in str(info.value)
    cfg = Config(**{**_fields(config), "hf_token": SPECIAL_TOKEN})
    async with Localizer(cfg, backend=store, retry=FAST_RETRY) as loc:
        assert (await loc.download("hgloc-test/gated")).status is Status.FETCHED
        assert (await loc.download("hgloc-test/private")).status is Status.FETCHED


async def test_token_goes_only_to_the_hub_host(
    config: Config, store: StorageBackend, hub: HubEmulator
) -> None:
    # A repo whose card and config are LFS files: both answers redirect to the CDN host.
    hub.add_repo(
        Repo(
            "hgloc-test/lfs-meta",
            [{"README.md": b"# lfs card\n" * 50, "config.json": b'{"a": 1}' + b" " * 500}],
            lfs_threshold=100,
        )
    )
    cfg = Config(**{**_fields(config), "hf_token": "hf_secret_token_value"})
    async with Localizer(cfg, backend=store, retry=FAST_RETRY) as loc:
        result = await loc.download("hgloc-test/lfs-meta")
    assert result.status is Status.FETCHED
    hub_host = hub.url.split("//")[1] if hub.url else ""
    cdn = [r for r in hub.requests if r.host != hub_host]
    on_hub = [r for r in hub.requests if r.host == hub_host]
    assert cdn, "the LFS answers should have gone through the CDN host"
    assert not any(r.has_auth for r in cdn)
    assert all(r.authorization == "Bearer hf_secret_token_value" for r in on_hub)
    meta = await store.read(f"hgloc-test_lfs-meta/default_revision/{METADATA_FILE}")
    assert b"hf_secret_token_value" not in meta
    assert b'"sha256"' in meta


# -- failures leave the store as it was -------------------------------------------------------


@pytest.mark.parametrize("model_id", BAD_IDS)
async def test_bad_model_ids_write_nothing(
    loc: Localizer, store: StorageBackend, hub: HubEmulator, model_id: str
) -> None:
    await store.write("keep/me", b"precious")
    with pytest.raises(InvalidModelIdError):
        await loc.download(model_id)
    assert await snapshot(store) == {"keep/me": b"precious"}
    assert hub.requests == []


@pytest.mark.parametrize("revision", BAD_REVISIONS)
async def test_bad_revisions_write_nothing(
    loc: Localizer, store: StorageBackend, hub: HubEmulator, revision: str
) -> None:
    await loc.download("hgloc-test/config-only")
    before = await snapshot(store)
    with pytest.raises(InvalidModelIdError, match="revision"):
        await loc.download("hgloc-test/config-only", revision)
    assert await snapshot(store) == before


async def test_transient_errors_are_retried(loc: Localizer, hub: HubEmulator) -> None:
    hub.faults.error_rate = 0.3
    hub.faults.drop_rate = 0.2
    hub.faults.seed = 7
    ids = [r for r in hub.repos if not r.startswith("hgloc")][:12]
    report = await loc.prefetch(ids)
    assert len(report.fetched) == 12, [r.error for r in report.failed]
    assert any(r.fault in ("error", "drop") for r in hub.requests)


async def test_429_retry_after_is_honoured(loc: Localizer, hub: HubEmulator) -> None:
    hub.faults.rate_limit_every = 2  # one of the two first requests is refused
    hub.faults.retry_after = 1
    started = time.perf_counter()
    result = await loc.download("hgloc-test/unicode-card")
    assert result.status is Status.FETCHED
    assert any(r.status == 429 for r in hub.requests)
    assert time.perf_counter() - started >= 0.9


async def test_corrupted_bytes_are_caught_and_never_stored(
    loc: Localizer, hub: HubEmulator, store: StorageBackend
) -> None:
    hub.faults.corrupt_paths = frozenset({"hgloc-test/config-only/config.json"})
    with pytest.raises(IntegrityError, match=r"config\.json"):
        await loc.download("hgloc-test/config-only")
    assert await snapshot(store) == {}


async def test_hub_that_never_recovers_fails_in_bounded_time(
    loc: Localizer, hub: HubEmulator, store: StorageBackend
) -> None:
    hub.faults.fail_all = True
    report = await loc.prefetch(["hgloc-test/config-only", "hgloc-test/card-only"])
    assert [r.status for r in report.results] == [Status.FAILED, Status.FAILED]
    assert all(r.error_type == "HubUnavailableError" for r in report.results)
    assert report.seconds < 10
    assert await snapshot(store) == {}


async def test_offline_makes_no_request_and_still_reads_the_store(
    config: Config, store: StorageBackend, hub: HubEmulator
) -> None:
    async with Localizer(config, backend=store, retry=FAST_RETRY) as loc:
        await loc.download("hgloc-test/config-nan")
    hub.reset_requests()
    offline = Config(**{**_fields(config), "offline": True})
    async with Localizer(offline, backend=store) as loc:
        assert (await loc.download("hgloc-test/config-nan")).status is Status.SKIPPED
        assert await loc.cached_config("hgloc-test/config-nan") is not None
        with pytest.raises(OfflineModeError, match="offline"):
            await loc.download("hgloc-test/card-only")
        with pytest.raises(OfflineModeError):
            await loc.hub_card("hgloc-test/card-only")
    assert hub.requests == []


async def test_hf_hub_offline_variable_is_honoured(
    config: Config, store: StorageBackend, hub: HubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = Config(**{**_fields(config), "offline": None})
    async with Localizer(cfg, backend=store) as loc:
        report = await loc.prefetch(["hgloc-test/card-only"])
    assert report.results[0].error_type == "OfflineModeError"
    assert hub.requests == []


async def test_two_ids_sharing_a_folder_are_an_error_not_a_mix(
    loc: Localizer, hub: HubEmulator, store: StorageBackend
) -> None:
    hub.add_repo(Repo("hgloc-test/a_b", [{"README.md": b"# a_b\n"}]))
    hub.add_repo(Repo("hgloc-test_a/b", [{"README.md": b"# other\n"}]))
    await loc.download("hgloc-test/a_b")
    before = await snapshot(store)
    with pytest.raises(LayoutCollisionError, match="same folder"):
        await loc.download("hgloc-test_a/b")
    with pytest.raises(LayoutCollisionError):
        await loc.cached_card("hgloc-test_a/b")
    assert await snapshot(store) == before
    assert [m.model_id for m in await loc.list_models()] == ["hgloc-test/a_b"]


async def test_folder_without_metadata_is_not_a_cached_model(
    loc: Localizer, store: StorageBackend
) -> None:
    # What a crash between the files and the metadata would leave behind.
    await store.write("org_half/default_revision/config.json", b"{}")
    assert await loc.list_models() == []
    assert await loc.cached_config("org/half") is None


# -- many models ----------------------------------------------------------------------------


async def test_prefetch_dedups_skips_cached_and_reports_each_model(
    loc: Localizer, hub: HubEmulator
) -> None:
    ids = [r for r in hub.repos if not r.startswith("hgloc-test/")][:20]
    await loc.download(ids[0])
    seen: list[str] = []
    report = await loc.prefetch(
        [*ids, ids[1], f"{ids[2]}@main", "nobody/nothing", "../bad"],
        progress=lambda r: seen.append(r.model_id),
    )
    statuses = {(r.model_id, r.revision): r.status for r in report.results}
    assert statuses[(ids[0], None)] is Status.SKIPPED
    assert statuses[(ids[1], None)] is Status.FETCHED
    assert statuses[(ids[2], "main")] is Status.FETCHED
    assert statuses[("nobody/nothing", None)] is Status.FAILED
    assert len(report.results) == len(ids) + 3  # the duplicate appears once
    assert len(report.fetched) == len(ids) - 1 + 1
    [bad] = [r for r in report.failed if r.error_type == "InvalidModelIdError"]
    assert bad.model_id == "../bad"
    assert sorted(seen) == sorted(r.model_id for r in report.results)
    missing = next(r for r in report.failed if r.model_id == "nobody/nothing")
    assert "not found" in (missing.error or "")
    assert report.as_dict()["failed"] == 2


async def test_prefetch_bounds_concurrency(config: Config, store: StorageBackend) -> None:
    hub = corpus_hub(60)
    hub.faults.latency = 0.05
    with hub.run_in_thread() as url:
        cfg = Config(**{**_fields(config), "hf_endpoint": url})
        async with Localizer(cfg, backend=store, retry=FAST_RETRY) as loc:
            report = await loc.prefetch(list(hub.repos)[:40], concurrency=4)
    fetched = len(report.fetched)
    # 2 files a model, 4 models at a time, 50 ms each: at least fetched/4 rounds of 50 ms.
    assert report.seconds >= (fetched / 4) * 0.05 * 0.9


async def test_prefetch_paces_itself_to_the_rate_limit(
    config: Config, store: StorageBackend
) -> None:
    hub = corpus_hub(60, resolver_quota=70, resolver_window=3)
    ids = [r for r in hub.repos if not r.startswith("hgloc")][:30]
    with hub.run_in_thread() as url:
        cfg = Config(**{**_fields(config), "hf_endpoint": url})
        async with Localizer(cfg, backend=store, retry=FAST_RETRY, concurrency=8) as loc:
            report = await loc.prefetch(ids)
    assert report.ok, [r.error for r in report.failed]
    refused = [r for r in hub.requests if r.status == 429]
    resolved = [r for r in hub.requests if "/resolve/" in r.path]
    # 60 resolves against a budget of 70: the pacer slows down before the Hub refuses.
    assert len(resolved) >= 58
    assert len(refused) <= 2


async def test_list_local_models_shape(loc: Localizer) -> None:
    await loc.download("hgloc-test/config-nan", "main")
    [model] = await loc.list_models()
    data = model.as_dict()
    for key in ("model_id", "revision", "has_card", "has_config", "path", "commit"):
        assert key in data
    assert data["model_id"] == "hgloc-test/config-nan"
    assert data["revision"] == "main"
    assert data["is_full_model"] is False


async def test_hub_content_is_read_without_storing(loc: Localizer, store: StorageBackend) -> None:
    card = await loc.hub_card("hgloc-test/unicode-card")
    config = await loc.hub_config("hgloc-test/config-only")
    assert "多言語" in card and isinstance(config, dict)
    assert await snapshot(store) == {}


# -- the documented functions ----------------------------------------------------------------


async def test_documented_async_functions(config: Config) -> None:
    ok, path = await hgloc.download_model_metadata("hgloc-test/config-nan", config=config)
    assert ok and Path(path).is_dir()
    ok, message = await hgloc.download_model_metadata("nobody/nothing", config=config)
    assert not ok and "not found" in message
    ok, message = await hgloc.download_model_metadata("a/../../b", config=config)
    assert not ok and "invalid model id" in message
    models = await hgloc.list_local_models(config=config)
    assert [m["model_id"] for m in models] == ["hgloc-test/config-nan"]
    assert await hgloc.get_cached_model_card_content("hgloc-test/config-nan", config=config)
    assert (
        await hgloc.get_cached_model_config_content("hgloc-test/config-only", config=config) is None
    )
    assert await hgloc.get_model_config_content("hgloc-test/config-only", config=config)
    assert await hgloc.get_model_card_content("nobody/nothing", config=config) is None
    report = await hgloc.prefetch(["hgloc-test/card-only"], config=config)
    assert report.ok


def test_sync_functions_work_in_a_plain_call(config: Config) -> None:
    from hgloc import sync

    ok, path = sync.download_model_metadata("hgloc-test/card-only", config=config)
    assert ok
    assert sync.list_local_models(config=config)[0]["path"] == path
    assert sync.get_cached_model_card_content("hgloc-test/card-only", config=config)


async def test_sync_functions_work_inside_a_running_event_loop(config: Config) -> None:
    from hgloc import sync

    # As in a notebook cell: blocking call from code that already runs a loop.
    ok, _ = sync.download_model_metadata("hgloc-test/config-only", config=config)
    assert ok
    assert sync.get_cached_model_config_content("hgloc-test/config-only", config=config)


def _fields(config: Config) -> dict[str, object]:
    import attrs

    return attrs.asdict(config, recurse=False)


def test_errors_share_one_root() -> None:
    for exc in (HubUnavailableError, IntegrityError, GatedRepoError, InvalidModelIdError):
        assert issubclass(exc, HglocError)
