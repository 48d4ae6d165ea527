"""Issue 15, case 6: a repo named after a folder hgloc keeps at the store's root.

``by_bucket`` at a revision named like a bucket id (or ``public`` at ``by_bucket``)
lands in another model's folder in HG-Localization's layout. Those ids are refused
at the root of a store; nothing is written, and the model they aim at keeps its bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hgloc import Config, Localizer, Status
from hgloc.errors import InvalidModelIdError
from hgloc.layout import bucket_id
from hgloc_testing import HubEmulator, MotoServer, Repo

from .helpers import FAST_RETRY, store_files

pytestmark = pytest.mark.anyio

VICTIM = "ok/victim"
GOOD_CONFIG = b'{"model_type": "bert"}'
EVIL = b'{"model_type": "evil"}'


@pytest.fixture(scope="module")
def bucket(moto: MotoServer) -> str:
    return moto.create_bucket(f"team-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def hub(moto: MotoServer, bucket: str) -> Iterator[HubEmulator]:
    folder = bucket_id(bucket, moto.endpoint_url)
    victim_files = {
        f"{folder}/ok_victim/default_revision/config.json": EVIL,
        f"{folder}/ok_victim/default_revision/model_card.md": b"# owned\n",
    }
    repos = [
        Repo(VICTIM, [{"README.md": b"# victim\n", "config.json": GOOD_CONFIG}]),
        # by_bucket@<bucket id>/... is by_bucket/<bucket id>/ok_victim/...
        Repo("by_bucket", [{"README.md": b"# x\n", "config.json": EVIL, **_strip(victim_files)}],
             branches={"main": 0, folder: 0}),
        # public@by_bucket/... is public/by_bucket/<bucket id>/ok_victim/... (a public copy)
        Repo("public", [{"README.md": b"# x\n", "config.json": EVIL, **victim_files}],
             branches={"main": 0, "by_bucket": 0}),
        Repo("by/bucket", [{"README.md": b"# x\n", "config.json": EVIL, **_strip(victim_files)}],
             branches={"main": 0, folder: 0}),
    ]  # fmt: skip
    emulator = HubEmulator(repos)
    with emulator.run_in_thread():
        yield emulator


def _strip(files: dict[str, bytes]) -> dict[str, bytes]:
    """The same files one level up: the revision folder is the bucket id already."""
    return {k.partition("/")[2]: v for k, v in files.items()}


def member(hub: HubEmulator, moto: MotoServer, bucket: str, root: Path) -> Config:
    return Config(
        models_store_path=root, hf_endpoint=hub.url, offline=False, s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url, aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key, s3_data_prefix="team",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("model_id", "revision"),
    [("by_bucket", "bucket"), ("public", "by_bucket"), ("by/bucket", "bucket"), ("PUBLIC", None)],
)
@pytest.mark.parametrize("full", [False, True])
async def test_a_reserved_folder_name_never_reaches_another_models_folder(
    hub: HubEmulator,
    moto: MotoServer,
    bucket: str,
    tmp_path: Path,
    model_id: str,
    revision: str | None,
    full: bool,
) -> None:
    root = tmp_path / "store"
    if revision == "bucket":
        revision = bucket_id(bucket, moto.endpoint_url)
    # The victim: a model cached by a team member (the bucket setting) in this store.
    async with Localizer(member(hub, moto, bucket, root), retry=FAST_RETRY) as loc:
        assert (await loc.download(VICTIM, upload=False)).ok
        await loc.upload(VICTIM)
        assert (await loc.download(VICTIM, upload=False, make_public=True)).ok
    before = store_files(root)
    assert any(k.endswith("ok_victim/default_revision/config.json") for k in before)

    solo = Config(models_store_path=root, hf_endpoint=hub.url, offline=False)
    async with Localizer(solo, retry=FAST_RETRY) as loc:
        with pytest.raises(InvalidModelIdError, match="keeps for itself"):
            await loc.download(model_id, revision, metadata_only=not full)
        report = await loc.prefetch([model_id], revision, metadata_only=not full)
    [result] = report.results
    assert result.status is Status.FAILED and "keeps for itself" in (result.error or "")
    assert store_files(root) == before  # not one byte written anywhere


def test_reserved_names_are_stored_as_usual_under_a_buckets_folder() -> None:
    from hgloc.layout import local_model_prefix

    assert local_model_prefix("public", "x", bucket_folder="team") == "by_bucket/team/public/x"
    with pytest.raises(InvalidModelIdError):
        local_model_prefix("By/Bucket", None)
    assert local_model_prefix("by-bucket", None) == "by-bucket/default_revision"
