"""Full-model downloads against the Hub emulator: every file, verified, resumable, loadable."""

from __future__ import annotations

import json
import random
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hub_fixtures import UNGRANTED_TOKEN

import hgloc
import hgloc.sync
from hgloc import Config, Localizer, Status, TransferSettings
from hgloc.backends import LocalBackend, MemoryBackend, StorageBackend
from hgloc.errors import (
    IntegrityError,
    InvalidKeyError,
    MissingExtraError,
    ObjectNotFoundError,
    OfflineModeError,
    ResponseTooLargeError,
)
from hgloc.layout import METADATA_FILE
from hgloc.sources import Backoff, RetryPolicy, git_blob_sha1
from hgloc_testing import Faults, HubApp, HubEmulator, Repo, RequestRecord, special_repos

pytestmark = pytest.mark.anyio
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])

FAST_RETRY = RetryPolicy(max_retries=6, backoff=Backoff(base=0.01, cap=0.05))
KiB, MiB = 1 << 10, 1 << 20
# Small numbers, so that files of a few hundred KB already take every path.
SMALL = TransferSettings(
    part_size=256 * KiB,
    split_above=512 * KiB,
    in_memory_max=64 * KiB,
    buffer_size=64 * KiB,
    progress_interval=0.0,
)
TOKEN = "hf_full_model_secret"


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# -- the emulator, wrapped to inject hostile tree entries and to count parallel transfers --------


class SpyApp:
    """The emulator's ASGI app plus two test hooks; everything else is the app's."""

    def __init__(self, inner: HubApp) -> None:
        self.inner = inner
        self.extra_tree_entries: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def faults(self) -> Faults:
        return self.inner.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.inner.faults = faults

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if self.extra_tree_entries and "/tree/" in path:
            await self._inject(scope, receive, send)
            return
        ranged = path.startswith("/cdn/") and any(k == b"range" for k, _ in scope["headers"])
        self.in_flight += ranged
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.inner(scope, receive, send)
        finally:
            self.in_flight -= ranged

    async def _inject(self, scope: Any, receive: Any, send: Any) -> None:
        messages: list[dict[str, Any]] = []

        async def keep(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.inner(scope, receive, keep)
        start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
        if start["status"] == 200:
            body = json.dumps([*json.loads(body), *self.extra_tree_entries]).encode()
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def module_hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator(
        special_repos().values(),
        tokens={TOKEN: "hgloc-test", UNGRANTED_TOKEN: "someone-else"},
        page_size=100,
    )
    emulator.app = SpyApp(emulator.app)  # type: ignore[assignment]
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub(module_hub: HubEmulator) -> HubEmulator:
    module_hub.reset_requests()
    module_hub.faults = Faults()
    spy = module_hub.app
    assert isinstance(spy, SpyApp)
    spy.extra_tree_entries.clear()
    spy.max_in_flight = 0
    return module_hub


@pytest.fixture
def config(hub: HubEmulator, tmp_path: Path) -> Config:
    assert hub.url
    return Config(
        models_store_path=tmp_path / "store", hf_endpoint=hub.url, offline=False, hf_token=TOKEN
    )


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StorageBackend:
    if request.param == "local":
        return LocalBackend(tmp_path / "store")
    return MemoryBackend()


@pytest.fixture
async def loc(config: Config) -> AsyncIterator[Localizer]:
    async with Localizer(config, retry=FAST_RETRY, concurrency=16, transfer=SMALL) as localizer:
        yield localizer


def add_repo(hub: HubEmulator, repo_id: str, files: dict[str, bytes]) -> Repo:
    repo = Repo(repo_id, [{"README.md": f"# {repo_id}\n".encode(), **files}])
    hub.add_repo(repo)
    return repo


def folder(config: Config, model_id: str) -> Path:
    return config.store_path / model_id.replace("/", "_") / "default_revision"


def on_cdn(hub: HubEmulator, name: str) -> list[RequestRecord]:
    return [r for r in hub.requests if r.is_cdn and r.method == "GET" and name in r.query]


def sent_bytes(record: RequestRecord, size: int) -> int:
    """Bytes the emulator sent for one file request (a dropped answer sends half)."""
    rng = record.headers.get("range")
    if rng is None:
        length = size
    else:
        first, _, last = rng.removeprefix("bytes=").partition("-")
        length = (int(last) + 1 if last else size) - int(first)
    return length // 2 if record.fault == "drop" else length


async def snapshot(store: StorageBackend) -> dict[str, bytes]:
    return {info.key: await store.read(info.key) async for info in store.list()}


# -- the whole repo, verified --------------------------------------------------------------------


async def test_every_file_is_stored_verified_and_marked_complete(
    config: Config, store: StorageBackend, hub: HubEmulator
) -> None:
    files = {
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": blob(700 * KiB, 1),  # split into parts
        "tokenizer.json": blob(300 * KiB, 2),  # one part, streamed (not LFS)
        "sub/dir/vocab.txt": b"a\nb\n",
    }
    repo = add_repo(hub, "hgloc-test/full", files)
    async with Localizer(config, backend=store, retry=FAST_RETRY, transfer=SMALL) as loc:
        result = await loc.download("hgloc-test/full", metadata_only=False)
        assert result.status is Status.FETCHED
        assert result.commit == repo.commit_sha(0)
        prefix = "hgloc-test_full/default_revision"
        for path, data in files.items():
            assert await store.read(f"{prefix}/{path}") == data
        assert await store.read(f"{prefix}/model_card.md") == b"# hgloc-test/full\n"
        assert not await store.exists(f"{prefix}/README.md")
        meta = json.loads(await store.read(f"{prefix}/{METADATA_FILE}"))
        assert meta["is_full_model"] is True
        assert meta["files"]["model_card.md"]["repo_path"] == "README.md"
        assert meta["files"]["sub/dir/vocab.txt"]["git_sha1"] == git_blob_sha1(b"a\nb\n")
        assert len(meta["files"]["model.safetensors"]["sha256"]) == 64
        [model] = await loc.list_models()
        assert model.is_full_model and model.has_card and model.has_config
        hub.reset_requests()
        again = await loc.download("hgloc-test/full", metadata_only=False)
        assert again.status is Status.SKIPPED and hub.requests == []
    leftovers = [i.key for i in await _alist(store) if not i.key.startswith(prefix)]
    assert leftovers == []  # no staging left in the store
    if isinstance(store, LocalBackend):
        assert not (store.root / ".hgloc-partial").exists()
        where = store.root / prefix
        # Renamed from the staging folder, yet with the permissions of the store's own files.
        assert (where / "model.safetensors").stat().st_mode == (
            where / "config.json"
        ).stat().st_mode


async def _alist(store: StorageBackend) -> list[Any]:
    return [info async for info in store.list()]


async def test_metadata_only_is_upgraded_and_full_satisfies_metadata(
    loc: Localizer, hub: HubEmulator, config: Config
) -> None:
    add_repo(hub, "hgloc-test/upgrade", {"config.json": b"{}", "w.bin": blob(100 * KiB, 3)})
    first = await loc.download("hgloc-test/upgrade")
    assert first.status is Status.FETCHED
    assert not (await loc.list_models())[0].is_full_model
    hub.reset_requests()
    full = await loc.download("hgloc-test/upgrade", metadata_only=False)
    assert full.status is Status.FETCHED and full.commit == first.commit
    resolved = {r.path.rpartition("/")[2] for r in hub.requests if "/resolve/" in r.path}
    assert resolved == {"w.bin"}  # card and config were already there, same hashes
    assert (folder(config, "hgloc-test/upgrade") / "w.bin").stat().st_size == 100 * KiB
    hub.reset_requests()
    meta = await loc.download("hgloc-test/upgrade")
    assert meta.status is Status.SKIPPED and hub.requests == []
    assert (await loc.list_models())[0].is_full_model


async def test_refresh_fetches_only_what_changed_and_keeps_the_model_full(
    loc: Localizer, hub: HubEmulator, config: Config
) -> None:
    add_repo(hub, "hgloc-test/moving-full", {"a.bin": blob(80 * KiB, 4), "old.txt": b"old"})
    await loc.download("hgloc-test/moving-full", metadata_only=False)
    new_commit = hub.push_commit(
        "hgloc-test/moving-full", {"README.md": b"# v2\n", "old.txt": None, "new.txt": b"new"}
    )
    hub.reset_requests()
    result = await loc.download("hgloc-test/moving-full", refresh=True)  # a metadata refresh
    assert result.status is Status.FETCHED and result.commit == new_commit
    resolved = {r.path.rpartition("/")[2] for r in hub.requests if "/resolve/" in r.path}
    assert resolved == {"README.md", "new.txt"}
    where = folder(config, "hgloc-test/moving-full")
    assert not (where / "old.txt").exists()
    assert (where / "model_card.md").read_bytes() == b"# v2\n"
    [model] = await loc.list_models()
    assert model.is_full_model and model.commit == new_commit


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.safetensors", "small.json"])
async def test_a_corrupted_byte_is_caught_and_nothing_is_cached(
    loc: Localizer, hub: HubEmulator, config: Config, name: str
) -> None:
    add_repo(
        hub, "hgloc-test/corrupt", {"model.safetensors": blob(600 * KiB, 5), "small.json": b"{}"}
    )
    hub.faults.corrupt_paths = frozenset({f"hgloc-test/corrupt/{name}"})
    with pytest.raises(IntegrityError, match=name):
        await loc.download("hgloc-test/corrupt", metadata_only=False)
    assert await loc.cached("hgloc-test/corrupt") is None
    assert not (folder(config, "hgloc-test/corrupt") / name).exists()
    assert await loc.list_models() == []


@pytest.mark.parametrize("name", ["big.json", "s.json"])
async def test_more_bytes_than_announced_is_refused(
    loc: Localizer, hub: HubEmulator, name: str
) -> None:
    # big.json is streamed (no Range: the whole file), s.json is fetched into memory.
    add_repo(hub, "hgloc-test/oversize", {"big.json": blob(200 * KiB, 6), "s.json": b"{}"})
    hub.faults.oversize_paths = frozenset({f"hgloc-test/oversize/{name}"})
    with pytest.raises(ResponseTooLargeError, match=name):
        await loc.download("hgloc-test/oversize", metadata_only=False)
    assert await loc.cached("hgloc-test/oversize") is None


async def test_a_dropped_connection_resumes_with_range(config: Config, hub: HubEmulator) -> None:
    size = 400 * KiB  # one part, streamed to disk: the resume is the stream's own
    add_repo(hub, "hgloc-test/drops", {"weights.bin": blob(size, 7)})
    hub.faults = Faults(drop_rate=0.5, seed=3)
    retry = RetryPolicy(max_retries=12, backoff=Backoff(base=0.01, cap=0.02))
    async with Localizer(config, retry=retry, transfer=SMALL) as loc:
        result = await loc.download("hgloc-test/drops", metadata_only=False)
    assert result.status is Status.FETCHED
    assert (folder(config, "hgloc-test/drops") / "weights.bin").read_bytes() == blob(size, 7)
    requests = on_cdn(hub, "weights.bin")
    assert any(r.fault == "drop" for r in requests), "the seed should drop a transfer"
    resumed = [r.headers.get("range", "") for r in requests if r.headers.get("range")]
    assert resumed and all(not r.startswith("bytes=0-") for r in resumed)
    # Resuming sends each byte about once; restarting would send ~1.5-2x the file.
    assert sum(sent_bytes(r, size) for r in requests) < 1.15 * size


async def test_a_killed_download_resumes_and_fetches_only_what_is_missing(
    config: Config, hub: HubEmulator
) -> None:
    size = 3 * MiB
    small = {f"s/{i:02d}.json": b'{"i": %d}' % i for i in range(20)}
    add_repo(hub, "hgloc-test/killed", {"model.safetensors": blob(size, 8), **small})
    settings = TransferSettings(
        part_size=256 * KiB, split_above=512 * KiB, in_memory_max=64 * KiB,
        buffer_size=32 * KiB, connections_per_file=2, progress_interval=0.0,
    )  # fmt: skip
    where = folder(config, "hgloc-test/killed")
    async with Localizer(config, retry=FAST_RETRY, transfer=settings, concurrency=4) as loc:
        with anyio.CancelScope() as scope:

            def stop_halfway(path: str, done: int, total: int) -> None:
                if path == "" and done >= total // 2:
                    scope.cancel()

            await loc.download("hgloc-test/killed", metadata_only=False, on_bytes=stop_halfway)
        assert scope.cancelled_caught
        assert await loc.cached("hgloc-test/killed") is None
    already = {p.relative_to(where).as_posix() for p in where.rglob("*.json")}
    assert (config.store_path / ".hgloc-partial").is_dir()
    hub.reset_requests()
    async with Localizer(config, retry=FAST_RETRY, transfer=settings) as loc:
        result = await loc.download("hgloc-test/killed", metadata_only=False)
    assert result.status is Status.FETCHED
    assert (where / "model.safetensors").read_bytes() == blob(size, 8)
    refetched = {
        r.path.split("/resolve/")[1].split("/", 1)[1] for r in hub.requests if "/resolve/" in r.path
    }
    assert not refetched & already, "files stored before the kill were fetched again"
    fetched = sum(sent_bytes(r, size) for r in on_cdn(hub, "model.safetensors"))
    assert 0 < fetched <= size * 0.6, f"fetched {fetched} of {size} bytes again"
    assert not (config.store_path / ".hgloc-partial").exists()


async def test_offline_only_serves_complete_models(config: Config, hub: HubEmulator) -> None:
    add_repo(hub, "hgloc-test/offline-full", {"config.json": b"{}"})
    async with Localizer(config, retry=FAST_RETRY, transfer=SMALL) as loc:
        await loc.download("hgloc-test/offline-full")  # metadata only
        with pytest.raises(OfflineModeError):
            await loc.download("hgloc-test/offline-full", metadata_only=False, skip_hf_fetch=True)
        await loc.download("hgloc-test/offline-full", metadata_only=False)
        hub.reset_requests()
        again = await loc.download(
            "hgloc-test/offline-full", metadata_only=False, skip_hf_fetch=True
        )
    assert again.status is Status.SKIPPED and hub.requests == []


HOSTILE = [
    "../evil",
    "/abs",
    "a//b",
    ".hg_localization_bucket_metadata.json",
    "x/.hg_localization_bucket_metadata.json",
]


@pytest.mark.parametrize("path", HOSTILE)
async def test_hostile_tree_paths_are_refused_with_nothing_written(
    config: Config, store: StorageBackend, hub: HubEmulator, path: str
) -> None:
    add_repo(hub, "hgloc-test/hostile", {"config.json": b"{}", "w.bin": blob(100 * KiB, 9)})
    spy = hub.app
    assert isinstance(spy, SpyApp)
    spy.extra_tree_entries.append(
        {"type": "file", "oid": git_blob_sha1(b"evil"), "size": 4, "path": path}
    )
    async with Localizer(config, backend=store, retry=FAST_RETRY, transfer=SMALL) as loc:
        with pytest.raises(
            InvalidKeyError, match=r"cannot be stored safely|keeps for itself"
        ) as info:
            await loc.download("hgloc-test/hostile", metadata_only=False)
    assert repr(path) in str(info.value)
    assert await snapshot(store) == {}
    assert not any("/resolve/" in r.path for r in hub.requests)
    assert not (config.store_path / ".hgloc-partial").exists()


# -- selection and scale -------------------------------------------------------------------------


async def test_include_and_exclude_patterns(
    loc: Localizer, hub: HubEmulator, config: Config
) -> None:
    files = {
        "config.json": b"{}",
        "a.safetensors": blob(70 * KiB, 10),
        "b.bin": b"b",
        "x/y.json": b"y",
    }
    add_repo(hub, "hgloc-test/patterns", files)
    result = await loc.download(
        "hgloc-test/patterns",
        metadata_only=False,
        allow_patterns=["*.json", "*.md"],
        ignore_patterns="x/*",
    )
    assert result.status is Status.FETCHED
    where = folder(config, "hgloc-test/patterns")
    stored = sorted(p.relative_to(where).as_posix() for p in where.rglob("*") if p.is_file())
    assert stored == [METADATA_FILE, "config.json", "model_card.md"]
    [model] = await loc.list_models()
    assert not model.is_full_model  # some files were left out
    hub.reset_requests()
    assert (
        await loc.download("hgloc-test/patterns", metadata_only=False, allow_patterns="config.*")
    ).status is Status.SKIPPED
    full = await loc.download("hgloc-test/patterns", metadata_only=False)
    assert full.status is Status.FETCHED
    resolved = sorted(
        r.path.split("/main/")[-1].rpartition("/")[2] for r in hub.requests if "/resolve/" in r.path
    )
    assert resolved == ["a.safetensors", "b.bin", "y.json"]
    assert (await loc.list_models())[0].is_full_model


async def test_hundreds_of_small_files_over_a_paginated_tree(
    loc: Localizer, hub: HubEmulator, config: Config
) -> None:
    files = {f"shards/{i // 100}/f{i:03d}.txt": b"file %d\n" % i for i in range(300)}
    add_repo(hub, "hgloc-test/three-hundred", files)
    started = time.perf_counter()
    result = await loc.download("hgloc-test/three-hundred", metadata_only=False)
    assert result.status is Status.FETCHED
    pages = [r for r in hub.requests if "/tree/" in r.path]
    assert len(pages) >= 3 and any("cursor=" in r.query for r in pages)
    where = folder(config, "hgloc-test/three-hundred")
    assert (where / "shards/2/f299.txt").read_bytes() == b"file 299\n"
    meta = json.loads((where / METADATA_FILE).read_bytes())
    assert len(meta["files"]) == 301 and meta["is_full_model"]
    assert time.perf_counter() - started < 15


@asyncio_only
async def test_a_big_file_comes_in_parallel_ranges_without_the_token_on_the_cdn(
    config: Config, hub: HubEmulator
) -> None:
    size = 40 * MiB
    data = blob(size, 11)
    add_repo(hub, "hgloc-test/big", {"config.json": b"{}", "model.safetensors": data})
    settings = TransferSettings(part_size=8 * MiB, split_above=16 * MiB)
    seen: list[tuple[str, int, int]] = []
    async with Localizer(config, retry=FAST_RETRY, transfer=settings) as loc:
        result = await loc.download(
            "hgloc-test/big", metadata_only=False, on_bytes=lambda *a: seen.append(a)
        )
    assert result.status is Status.FETCHED
    assert (folder(config, "hgloc-test/big") / "model.safetensors").read_bytes() == data
    cdn = on_cdn(hub, "model.safetensors")
    assert len(cdn) == 5 and all(r.headers.get("range") for r in cdn)
    assert not any(r.has_auth for r in hub.requests if r.is_cdn)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in hub.requests if not r.is_cdn)
    spy = hub.app
    assert isinstance(spy, SpyApp) and spy.max_in_flight >= 2, "parts were fetched one by one"
    total = size + len(b"{}") + len(b"# hgloc-test/big\n")
    assert ("model.safetensors", size, size) in seen and seen[-1] == ("", total, total)


@asyncio_only
def test_memory_stays_flat_for_a_big_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    size_mb = 64
    # The emulator runs in its own process, so that only the client's memory is traced.
    monkeypatch.setenv("HGLOC_EMULATOR_BIG_FILE_MB", str(size_mb))
    with HubEmulator.run_in_subprocess(corpus_size=1) as url:
        config = Config(models_store_path=tmp_path / "store", hf_endpoint=url, offline=False)

        async def main() -> None:
            async with Localizer(config, retry=FAST_RETRY) as loc:
                await loc.download("hgloc-bench/big-file", metadata_only=False)

        tracemalloc.start()
        try:
            anyio.run(main, backend=anyio_backend)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    stored = folder(config, "hgloc-bench/big-file") / "model.safetensors"
    assert stored.stat().st_size == size_mb * MiB
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB for a {size_mb} MiB file"


# -- the documented functions --------------------------------------------------------------------


async def test_documented_functions_download_full_models(config: Config, hub: HubEmulator) -> None:
    add_repo(hub, "hgloc-test/doc-full", {"config.json": b"{}", "w.bin": blob(10 * KiB, 12)})
    add_repo(hub, "hgloc-test/doc-full-2", {"config.json": b"{}", "w.bin": blob(10 * KiB, 13)})
    ok, path = await hgloc.download_model_metadata(
        "hgloc-test/doc-full", metadata_only=False, config=config
    )
    assert ok and (Path(path) / "w.bin").is_file()
    report = await hgloc.prefetch(
        ["hgloc-test/doc-full-2", "hgloc-test/lfs"], metadata_only=False, config=config
    )
    assert report.ok, [r.error for r in report.failed]
    models = {m["model_id"]: m for m in await hgloc.list_local_models(config=config)}
    assert all(m["is_full_model"] for m in models.values()) and len(models) == 3
    await hgloc.download_model_metadata("hgloc-test/card-only", config=config)
    models = {m["model_id"]: m for m in await hgloc.list_local_models(config=config)}
    assert models["hgloc-test/card-only"]["is_full_model"] is False
    ok, message = await hgloc.download_model_metadata(
        "nobody/nothing", metadata_only=False, config=config
    )
    assert not ok and "not found" in message


async def test_load_config_needs_the_extra(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails, as when absent
    with pytest.raises(MissingExtraError, match=r"hgloc\[transformers\]"):
        await hgloc.load_config("hgloc-test/config-only", config=config)


# -- transformers loads what was localized -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT and a word-level tokenizer, saved as transformers saves them."""
    torch = pytest.importorskip("torch", reason="needs torch (the test extra)")
    transformers = pytest.importorskip("transformers", reason="needs transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    out = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=64,
    )  # fmt: skip
    transformers.BertModel(config).eval().save_pretrained(out, safe_serialization=True)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip
    tokenizer.save_pretrained(out)
    (out / "README.md").write_text("---\nlibrary_name: transformers\n---\n# tiny bert\n")
    return out


@asyncio_only
async def test_transformers_loads_the_localized_model(
    loc: Localizer, hub: HubEmulator, tiny_bert: Path, config: Config
) -> None:
    import torch
    import transformers

    hub.add_repo(Repo.from_folder("hgloc-test/tiny-bert", tiny_bert))
    result = await loc.download("hgloc-test/tiny-bert", metadata_only=False)
    assert result.status is Status.FETCHED and result.path is not None
    local = Path(result.path)
    assert (local / "model.safetensors").is_file() and (local / "model_card.md").is_file()

    original = transformers.AutoModel.from_pretrained(tiny_bert).eval()
    localized = transformers.AutoModel.from_pretrained(local).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(local)
    inputs = tokenizer("the quick brown fox jumps over a lazy dog", return_tensors="pt")
    assert 1 not in inputs["input_ids"][0].tolist()  # every word is in the vocabulary
    with torch.no_grad():
        expected = original(**inputs).last_hidden_state
        got = localized(**inputs).last_hidden_state
    assert torch.allclose(expected, got)

    pretrained = await hgloc.load_config("hgloc-test/tiny-bert", config=config)
    assert isinstance(pretrained, transformers.PretrainedConfig)
    assert pretrained.model_type == "bert" and pretrained.hidden_size == 32
    blocking = hgloc.sync.load_config("hgloc-test/tiny-bert", config=config)
    assert blocking.to_dict() == pretrained.to_dict()


@asyncio_only
async def test_load_config_works_for_metadata_only_models(
    loc: Localizer, hub: HubEmulator, config: Config, tiny_bert: Path
) -> None:
    transformers = pytest.importorskip("transformers")
    await loc.download("hgloc-test/config-only")
    pretrained = await hgloc.load_config("hgloc-test/config-only", config=config)
    assert isinstance(pretrained, transformers.PretrainedConfig)
    assert pretrained.model_type == "t5"
    with pytest.raises(ObjectNotFoundError, match="not in the store"):
        await hgloc.load_config("hgloc-test/card-only", config=config)


async def test_files_in_place_but_never_journaled_are_hashed_and_kept(
    config: Config, hub: HubEmulator
) -> None:
    """kill -9 between a file's rename into place and its journal line: kept, not refetched."""
    small = {f"s/{i:02d}.json": b'{"i": %d}' % i for i in range(5)}
    add_repo(hub, "hgloc-test/unjournaled", {"model.safetensors": blob(MiB, 3), **small})
    settings = TransferSettings(in_memory_max=64 * KiB, split_above=256 * KiB, part_size=128 * KiB)
    where = folder(config, "hgloc-test/unjournaled")
    async with Localizer(config, retry=FAST_RETRY, transfer=settings) as loc:
        await loc.download("hgloc-test/unjournaled", metadata_only=False)
    # What such a kill leaves: the files in place, no metadata, no journal.
    (where / METADATA_FILE).unlink()
    (where / "s" / "03.json").write_bytes(b'{"i": 9}')  # same size, other bytes: refetched
    hub.reset_requests()
    async with Localizer(config, retry=FAST_RETRY, transfer=settings) as loc:
        result = await loc.download("hgloc-test/unjournaled", metadata_only=False)
    assert result.status is Status.FETCHED
    fetched = {r.path.rpartition("/")[2] for r in hub.requests if "/resolve/" in r.path}
    assert fetched == {"03.json"}
    assert (where / "s" / "03.json").read_bytes() == b'{"i": 3}'
