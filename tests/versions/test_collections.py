"""Collections through the Python API and the CLI, in a local store and in a moto bucket.

Includes two processes adding 30 items each to one collection (60 after),
a member without credentials reading public collections, and stock
``huggingface_hub`` reading them from ``hgloc serve``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import hgloc
import hgloc.sync
from hgloc import Config, Status
from hgloc.collections import CollectionExistsError, CollectionNotFoundError
from hgloc.errors import StorePermissionError
from hgloc_testing import HubEmulator, MotoServer

from .conftest import Run

pytestmark = pytest.mark.anyio

SRC = str(Path(hgloc.__file__).resolve().parents[1])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def bucket_settings(moto: MotoServer, bucket: str) -> dict[str, Any]:
    return {
        "s3_bucket_name": bucket,
        "s3_endpoint_url": moto.endpoint_url,
        "aws_access_key_id": moto.access_key_id,
        "aws_secret_access_key": moto.secret_access_key,
        "s3_data_prefix": "team",
    }


@pytest.fixture(params=["local", "bucket"])
def where(request: pytest.FixtureRequest, config: Config) -> Config:
    """The configuration of one member: a local store only, or with a moto bucket."""
    if request.param == "local":
        return config
    moto: MotoServer = request.getfixturevalue("moto")
    bucket = moto.create_bucket(f"coll-{uuid.uuid4().hex[:10]}")
    return attrs.evolve(config, **bucket_settings(moto, bucket))


def env_of(config: Config) -> dict[str, str]:
    """The HGLOC_* variables that give ``config``'s bucket to the CLI or a child process."""
    if not config.s3_bucket_name:
        return {}
    return {
        "HGLOC_S3_BUCKET_NAME": config.s3_bucket_name,
        "HGLOC_S3_ENDPOINT_URL": str(config.s3_endpoint_url),
        "HGLOC_AWS_ACCESS_KEY_ID": str(config.aws_access_key_id),
        "HGLOC_AWS_SECRET_ACCESS_KEY": str(config.aws_secret_access_key),
        "HGLOC_S3_DATA_PREFIX": config.s3_data_prefix,
    }


async def test_collections_through_the_api(
    where: Config, make_repo: Any, hub: HubEmulator, tmp_path: Path
) -> None:
    a, b = make_repo(), make_repo()
    made = await hgloc.create_collection("team/encoders", "Encoders", "What we ship", config=where)
    assert (made.slug, made.title, made.owner, made.items) == (
        "team/encoders", "Encoders", "team", ()
    )  # fmt: skip
    with pytest.raises(CollectionExistsError):
        await hgloc.create_collection("team/encoders", "Again", config=where)
    await hgloc.add_to_collection("team/encoders", f"{a}@v1.0", note="baseline", config=where)
    await hgloc.add_to_collection(
        "team/encoders", b, revision="stable", full=True, include=["*.json", "README.md"],
        config=where,
    )  # fmt: skip
    await hgloc.add_to_collection("team/encoders", f"{a}@main", config=where)
    shown = await hgloc.get_collection("team/encoders", config=where)
    assert [(i.model_id, i.revision, i.note, i.full) for i in shown.items] == [
        (a, "v1.0", "baseline", False),
        (b, "stable", None, True),
        (a, "main", None, False),
    ]
    # The same model at the same revision again updates it in place.
    await hgloc.add_to_collection("team/encoders", f"{a}@v1.0", note="the old one", config=where)
    shown = await hgloc.get_collection("team/encoders", config=where)
    assert len(shown.items) == 3 and shown.items[0].note == "the old one"

    await hgloc.create_collection("other", "Other", config=where)
    listed = await hgloc.list_collections(config=where)
    assert [c.slug for c in listed] == ["other", "team/encoders"]
    assert [c.slug for c in await hgloc.list_collections("team", config=where)] == ["team/encoders"]

    report = await hgloc.sync_collection("team/encoders", config=where)
    assert report.ok, report.failed
    assert [r.label for r in report.results] == [f"{a}@v1.0", f"{b}@stable", f"{a}@main"]
    assert all(r.status is Status.FETCHED for r in report.results)
    again = hgloc.sync.sync_collection("team/encoders", config=where)
    assert [r.status for r in again.results] == [Status.SKIPPED] * 3
    cached = {(m["model_id"], m["revision"]): m for m in hgloc.sync.list_local_models(config=where)}
    assert cached[(b, "stable")]["is_full_model"] is False  # the include globs left the weights
    assert cached[(a, "v1.0")]["commit"] == hub.repos[a].commit_sha(0)

    lock_path = tmp_path / "encoders.lock"
    lock = await hgloc.lock_collection("team/encoders", lock_path, config=where)
    data = tomllib.loads(lock_path.read_text())
    assert [(m["id"], m["revision"], m["full"]) for m in data["models"]] == [
        (a, "v1.0", False), (b, "stable", True), (a, "main", False)
    ]  # fmt: skip
    assert {f["path"] for f in data["models"][1]["files"]} == {"README.md", "config.json"}
    assert lock.models[1].commit == hub.repos[b].commit_sha(1)

    await hgloc.remove_from_collection("team/encoders", f"{a}@main", config=where)
    assert len((await hgloc.get_collection("team/encoders", config=where)).items) == 2
    await hgloc.remove_from_collection("team/encoders", a, config=where)
    assert [
        i.model_id for i in (await hgloc.get_collection("team/encoders", config=where)).items
    ] == [b]
    with pytest.raises(CollectionNotFoundError):
        await hgloc.remove_from_collection("team/encoders", a, config=where)
    with pytest.raises(CollectionNotFoundError):
        await hgloc.get_collection("team/absent", config=where)
    with pytest.raises(CollectionNotFoundError):
        await hgloc.add_to_collection("team/absent", a, config=where)


def test_collections_through_the_cli(
    where: Config, make_repo: Any, run: Run, tmp_path: Path
) -> None:
    env = env_of(where)
    a, b = make_repo(), make_repo()

    def cli(*args: str) -> Any:
        return run(*args, env=env)

    created = cli("collection", "create", "team/cli", "--title", "CLI", "--description", "d")
    assert created.exit_code == 0, created.output
    assert cli("collection", "create", "team/cli", "--title", "x").exit_code == 1
    assert cli("collection", "create", "bad slug", "--title", "x").exit_code == 2
    assert cli("collection", "add", "team/cli", f"{a}@v2.0", "--note", "pinned").exit_code == 0
    assert (
        cli(
            "collection", "add", "team/cli", f"{b}@v1.0", "--full-model", "--include", "*.json"
        ).exit_code
        == 0
    )
    assert cli("collection", "add", "team/cli", b, "--include", "*.json").exit_code == 2
    assert cli("collection", "add", "team/absent", a).exit_code == 1

    shown = cli("collection", "show", "team/cli")
    assert shown.exit_code == 0
    assert (
        f"{a}@v2.0" in shown.output and "# pinned" in shown.output and "full *.json" in shown.output
    )
    data = json.loads(cli("collection", "show", "team/cli", "--json").output)
    assert [(i["id"], i.get("revision")) for i in data["items"]] == [(a, "v2.0"), (b, "v1.0")]
    listed = json.loads(cli("collection", "list", "--json").output)
    assert [c["slug"] for c in listed] == ["team/cli"]
    assert "team/cli" in cli("collection", "list").output

    synced = cli("collection", "sync", "team/cli", "--json")
    assert synced.exit_code == 0, synced.output
    report = json.loads(synced.stdout)
    assert report["fetched"] == 2 and [m["revision"] for m in report["models"]] == ["v2.0", "v1.0"]
    lock_path = tmp_path / "cli.lock"
    assert cli("collection", "lock", "team/cli", "-o", str(lock_path)).exit_code == 0
    assert len(tomllib.loads(lock_path.read_text())["models"]) == 2
    assert cli("verify", "--locked", str(lock_path)).exit_code == 0

    assert cli("collection", "remove", "team/cli", a).exit_code == 0
    assert cli("collection", "remove", "team/cli", a).exit_code == 1
    data = json.loads(cli("collection", "show", "team/cli", "--json").output)
    assert [i["id"] for i in data["items"]] == [b]
    assert cli("collection", "show", "team/absent").exit_code == 1

    # An item that cannot be fetched fails the sync with exit code 1, as prefetch does.
    assert cli("collection", "add", "team/cli", "hgloc-versions/absent-repo").exit_code == 0
    failed = cli("collection", "sync", "team/cli")
    assert failed.exit_code == 1
    assert "hgloc-versions/absent-repo" in failed.output


_ADDER = textwrap.dedent(
    """
    import sys
    from hgloc import sync
    from hgloc.config import Config

    config = Config.from_env()
    start = int(sys.argv[1])
    for i in range(start, start + 30):
        sync.add_to_collection("team/race", f"race/model-{i}", config=config)
    """
)


def test_two_processes_adding_30_items_each_lose_nothing(where: Config) -> None:
    hgloc.sync.create_collection("team/race", "Race", config=where)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HGLOC_")},
        **env_of(where),
        "HGLOC_MODELS_STORE_PATH": str(where.store_path),
        "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
    }
    children = [
        subprocess.Popen([sys.executable, "-c", _ADDER, str(start)], env=env) for start in (0, 100)
    ]
    assert [child.wait(timeout=300) for child in children] == [0, 0]
    found = hgloc.sync.get_collection("team/race", config=where)
    assert len(found.items) == 60
    assert {i.model_id for i in found.items} == {
        f"race/model-{i}" for i in (*range(30), *range(100, 130))
    }


async def test_without_credentials_a_member_reads_the_public_collections(
    config: Config, moto: MotoServer, tmp_path: Path
) -> None:
    bucket = moto.create_bucket(f"pub-{uuid.uuid4().hex[:10]}")
    member = attrs.evolve(config, **bucket_settings(moto, bucket))
    await hgloc.create_collection("team/open", "Open", private=False, config=member)
    await hgloc.create_collection("team/closed", "Closed", config=member)
    await hgloc.add_to_collection("team/open", "org/a@v1.0", note="n", config=member)
    await hgloc.add_to_collection("team/closed", "org/b", config=member)

    guest = attrs.evolve(
        config,
        models_store_path=tmp_path / "guest",
        s3_bucket_name=bucket,
        s3_endpoint_url=moto.endpoint_url,
        s3_data_prefix="team",
    )
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    try:
        listed = await hgloc.list_collections(config=guest)
        assert [c.slug for c in listed] == ["team/open"]
        found = await hgloc.get_collection("team/open", config=guest)
        assert [(i.model_id, i.revision, i.note) for i in found.items] == [("org/a", "v1.0", "n")]
        with pytest.raises(CollectionNotFoundError):
            await hgloc.get_collection("team/closed", config=guest)
        with pytest.raises(StorePermissionError):
            await hgloc.add_to_collection("team/open", "org/c", config=guest)
    finally:
        del os.environ["AWS_SHARED_CREDENTIALS_FILE"]
    # Made private again, it leaves the public manifest.
    from hgloc.collections import Collections

    async with Collections(member) as shelf:
        await shelf.edit("team/open", private=True)
    assert await hgloc.list_collections(config=guest) == []


def test_stock_huggingface_hub_reads_collections_from_hgloc_serve(
    config: Config, make_repo: Any
) -> None:
    from huggingface_hub import HfApi

    from hgloc.serve import create_app
    from hgloc_testing import run_asgi_in_thread

    a = make_repo()
    hgloc.sync.create_collection("team/served", "Served", "for the Hub client", config=config)
    hgloc.sync.add_to_collection("team/served", f"{a}@v1.0", note="first", config=config)
    hgloc.sync.add_to_collection("team/served", f"{a}@main", config=config)
    hgloc.sync.create_collection("solo", "Solo", config=config)
    with run_asgi_in_thread(create_app(config), name="hgloc-serve", lifespan="on") as url:
        api = HfApi(endpoint=url, token=False)
        got = api.get_collection("team/served")
        assert (got.slug, got.title, got.owner, got.description) == (
            "team/served", "Served", "team", "for the Hub client"
        )  # fmt: skip
        assert [(i.item_id, i.item_type, i.position, i.note) for i in got.items] == [
            (a, "model", 0, "first"), (a, "model", 1, None)
        ]  # fmt: skip
        assert got.url == f"{url}/collections/team/served"
        assert api.get_collection("solo").owner == "local"
        listed = list(api.list_collections(owner="team"))
        assert [c.slug for c in listed] == ["team/served"]
        assert [c.slug for c in api.list_collections()] == ["solo", "team/served"]
        assert [c.slug for c in api.list_collections(item=f"models/{a}")] == ["team/served"]
        import urllib.request

        with urllib.request.urlopen(f"{url}/") as page:  # the listing page shows them too
            html = page.read().decode()
        assert 'id="collections"' in html and "team/served" in html
        assert f"{a}@v1.0" in html and "first" in html
        import huggingface_hub.errors as hf_errors

        with pytest.raises(hf_errors.HfHubHTTPError):
            api.get_collection("team/absent")
