"""The bucket tier's own logic, run over every store that can hold a team bucket.

The same tests run on a MemoryBackend and on a real S3 server (moto, in its own
process): ``BucketTier`` asks only for a ``BucketStore``, so its rules (folders,
skip-if-same, metadata last, the two indexes, refusing entries that point
elsewhere) are checked without a network as well as against S3.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import pytest

from hgloc import Config
from hgloc.backends import BucketStore, MemoryBackend
from hgloc.bucket import BucketEntry, BucketTier
from hgloc.errors import IndexCorruptError
from hgloc.layout import CARD_FILE, CONFIG_FILE, METADATA_FILE, FileRecord, ModelRecord
from hgloc.sources import git_blob_sha1

if TYPE_CHECKING:
    from hgloc_testing import MotoServer

pytestmark = pytest.mark.anyio

PREFIX = "team"


def _s3_missing(anyio_backend: str) -> str | None:
    for module in ("aiobotocore", "moto"):
        if importlib.util.find_spec(module) is None:
            return f"S3 tests need {module} (pip install 'hgloc[test]')"
    if (
        anyio_backend == "trio"
        and importlib.util.find_spec("aiobotocore._async_primitives") is None
    ):
        return "aiobotocore runs on asyncio only before 3.9"
    return None


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    reason = _s3_missing("asyncio")
    if reason:
        pytest.skip(reason)
    from hgloc_testing import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture(params=["memory", "s3"])
async def tier(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[BucketTier]:
    store: BucketStore
    if request.param == "memory":
        bucket = "team-models"
        store = MemoryBackend(bucket)
        endpoint = None
    else:
        reason = _s3_missing(anyio_backend)
        if reason:
            pytest.skip(reason)
        from hgloc.backends import S3Backend

        server: MotoServer = request.getfixturevalue("moto")
        bucket = server.create_bucket(f"tier-{uuid.uuid4().hex[:12]}")
        endpoint = server.endpoint_url
        store = S3Backend(
            bucket,
            prefix=PREFIX,
            endpoint_url=endpoint,
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
            region=server.region,
        )
    config = Config(s3_bucket_name=bucket, s3_endpoint_url=endpoint, s3_data_prefix=PREFIX)
    try:
        yield BucketTier(config, store)
    finally:
        await store.aclose()


def _model(
    model_id: str, files: dict[str, bytes], revision: str | None = None
) -> tuple[ModelRecord, Callable[[str], AsyncIterator[bytes]]]:
    """A record of ``files`` and the reader ``upload`` streams them from."""
    record = ModelRecord(
        model_id=model_id,
        revision=revision,
        commit="a" * 40,
        files={
            name: FileRecord(
                "README.md" if name == CARD_FILE else name, len(data), git_blob_sha1(data)
            )
            for name, data in files.items()
        },
    )

    async def read_local(name: str) -> AsyncIterator[bytes]:
        data = files[name]
        yield data[: len(data) // 2]
        yield data[len(data) // 2 :]

    return record, read_local


FILES = {CARD_FILE: b"# a model", CONFIG_FILE: b'{"model_type": "gpt2"}', "tokenizer.json": b"{}"}


async def _is_public(store: BucketStore, key: str) -> bool:
    if isinstance(store, MemoryBackend):
        return store.is_public(key)
    url = store.public_url(key)

    def get() -> int:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    return await anyio.to_thread.run_sync(get) == 200


async def _index(tier: BucketTier, key: str) -> dict[str, Any] | None:
    return (await tier.backend.read_json_with_etag(key))[0]


async def test_upload_then_load_and_list(tier: BucketTier) -> None:
    record, read_local = _model("org/m", FILES)

    assert await tier.upload(record, read_local=read_local)

    folder = tier.folder("org/m", None)
    assert folder == "models/org_m/default_revision"
    for name, data in FILES.items():
        assert await tier.backend.read(f"{folder}/{name}") == data
        head = await tier.backend.head(f"{folder}/{name}")
        assert dict(head.metadata) == {"git-sha1": git_blob_sha1(data)}
    loaded = await tier.load("org/m", None)
    assert loaded is not None
    assert (loaded.model_id, loaded.revision, loaded.commit) == ("org/m", None, "a" * 40)
    assert loaded.files == record.files
    assert loaded.s3_bucket_name == tier.config.s3_bucket_name
    assert await tier.load("org/other", None) is None

    prefix = f"{PREFIX}/{folder}"
    [entry] = await tier.entries()
    assert entry == BucketEntry(
        "org/m", None, prefix, False, last_updated=entry.last_updated, commit="a" * 40
    )
    private = await _index(tier, tier.config.private_models_index_key)
    assert private is not None
    assert private["org/m---default_revision"]["s3_prefix"] == prefix
    assert private["org/m---default_revision"]["has_tokenizer"] is True
    assert await _index(tier, tier.config.public_models_json_key) is None
    assert not await _is_public(tier.backend, f"{folder}/{CARD_FILE}")


async def test_unchanged_objects_are_not_put_again(
    tier: BucketTier, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, read_local = _model("org/m", FILES)
    await tier.upload(record, read_local=read_local)
    real = tier.backend.put_stream
    put: list[str] = []

    async def counting(key: str, chunks: AsyncIterator[bytes], **options: Any) -> Any:
        put.append(key.rsplit("/", 1)[1])
        return await real(key, chunks, **options)

    monkeypatch.setattr(tier.backend, "put_stream", counting)

    assert not await tier.upload(record, read_local=read_local)
    assert put == []

    changed, read_changed = _model("org/m", {**FILES, CONFIG_FILE: b'{"model_type": "bert"}'})
    assert await tier.upload(changed, read_local=read_changed)
    assert put == [CONFIG_FILE]
    loaded = await tier.load("org/m", None)
    assert loaded is not None and loaded.files == changed.files


async def test_public_upload_writes_the_manifest(tier: BucketTier) -> None:
    record, read_local = _model("gpt2", FILES, revision="v1")
    await tier.upload(record, read_local=read_local, make_public=True)

    folder = tier.folder("gpt2", "v1")
    manifest = await _index(tier, tier.config.public_models_json_key)
    assert manifest is not None
    entry = manifest["gpt2---v1"]
    assert entry["model_card_url"] == tier.backend.public_url(f"{folder}/{CARD_FILE}")
    assert entry["model_config_url"] == tier.backend.public_url(f"{folder}/{CONFIG_FILE}")
    assert entry["s3_prefix"] == f"{PREFIX}/{folder}"
    assert await _is_public(tier.backend, tier.config.public_models_json_key)
    assert await _is_public(tier.backend, f"{folder}/{CARD_FILE}")
    assert await _is_public(tier.backend, f"{folder}/{CONFIG_FILE}")
    assert not await _is_public(tier.backend, f"{folder}/tokenizer.json")
    [listed] = await tier.entries()
    assert (listed.model_id, listed.revision, listed.is_public) == ("gpt2", "v1", True)


async def test_concurrent_records_all_land(tier: BucketTier) -> None:
    records = [_model(f"org/m{i}", FILES)[0] for i in range(12)]
    async with anyio.create_task_group() as group:
        for record in records:
            group.start_soon(tier.record, [record])
    assert [e.model_id for e in await tier.entries()] == sorted(r.model_id for r in records)
    assert tier.unindexed() == set()


async def test_deferred_index_is_written_once_at_the_end(tier: BucketTier) -> None:
    async with tier.deferred_index():
        for i in range(3):
            record, read_local = _model(f"org/m{i}", FILES)
            await tier.upload(record, read_local=read_local)
        # The folders are in the bucket already; only the listing waits.
        assert await tier.load("org/m2", None) is not None
        assert await _index(tier, tier.config.private_models_index_key) is None
        assert tier.unindexed() == {(f"org/m{i}", None) for i in range(3)}
    assert [e.model_id for e in await tier.entries()] == ["org/m0", "org/m1", "org/m2"]


async def test_a_folder_holding_another_model_is_refused(tier: BucketTier) -> None:
    record, read_local = _model("a_b/c", FILES)
    await tier.upload(record, read_local=read_local)
    assert tier.folder("a/b_c", None) == tier.folder("a_b/c", None)
    with pytest.raises(IndexCorruptError, match="two models share that folder"):
        await tier.load("a/b_c", None)


async def test_a_legacy_folder_is_vouched_for_by_the_index(tier: BucketTier) -> None:
    folder = tier.folder("org/old", None)
    await tier.backend.write(f"{folder}/{METADATA_FILE}", json.dumps({"type": "model"}).encode())
    await tier.backend.write(f"{folder}/{CARD_FILE}", b"# legacy")
    assert await tier.load("org/old", None) is None  # no id, no index entry: skipped

    await tier.record([ModelRecord("org/old", None, None, {CARD_FILE: FileRecord("README.md", 8)})])
    loaded = await tier.load("org/old", None)
    assert loaded is not None
    assert loaded.files == {CARD_FILE: FileRecord("README.md", 8)}  # sized, not hashed


async def test_index_entries_pointing_elsewhere_are_skipped(tier: BucketTier) -> None:
    good = {
        "model_id": "org/m",
        "revision": None,
        "s3_prefix": f"{PREFIX}/models/org_m/default_revision",
    }
    bad = {"model_id": "org/x", "revision": None, "s3_prefix": "elsewhere/secrets"}

    await tier.backend.update_json(
        tier.config.private_models_index_key,
        lambda index: {**index, "org/m---default_revision": good, "org/x---default_revision": bad},
    )

    assert [e.model_id for e in await tier.entries()] == ["org/m"]


async def test_a_corrupt_index_is_kept_and_its_entries_wait(tier: BucketTier) -> None:
    key = tier.config.private_models_index_key
    await tier.backend.write(key, b'{"cut off": ')
    record, read_local = _model("org/m", FILES)

    with pytest.raises(IndexCorruptError):
        await tier.upload(record, read_local=read_local)

    assert await tier.backend.read(key) == b'{"cut off": '
    assert tier.unindexed() == {("org/m", None)}
    with pytest.raises(IndexCorruptError):
        await tier.entries()
    await tier.backend.delete(key)  # repaired: the next record writes the waiting entry too
    await tier.record([_model("org/n", FILES)[0]])
    assert [e.model_id for e in await tier.entries()] == ["org/m", "org/n"]
