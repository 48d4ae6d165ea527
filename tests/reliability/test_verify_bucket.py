"""``hgloc verify --s3``: one flipped byte in the bucket is caught, and ``--repair`` puts it right.

Bit rot is simulated the way it happens: the object's bytes change, its recorded
size and hash (user metadata, the folder's metadata file) do not.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner, Result

from hgloc import Config, Localizer
from hgloc.cli import cli
from hgloc_testing import HubEmulator, MotoServer, make_corpus

from .helpers import FAST_RETRY, Figures, big_repo, source_files

BIG = "reliability/big-verify"
BIG_SIZE = 3 << 20


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    repos = [r for r in make_corpus(30, seed=41) if not r.repo_id.startswith("hgloc")]
    emulator = HubEmulator([*repos, big_repo(BIG, BIG_SIZE, small_files=2, seed=3)])
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.create_bucket(f"verify-{uuid.uuid4().hex[:10]}")


def env_for(hub: HubEmulator, moto: MotoServer, bucket: str) -> dict[str, str]:
    return {
        "HF_ENDPOINT": str(hub.url),
        "HGLOC_S3_BUCKET_NAME": bucket,
        "HGLOC_S3_ENDPOINT_URL": moto.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": moto.access_key_id,
        "HGLOC_AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
        "HGLOC_S3_DATA_PREFIX": "team",
        "TTY_COMPATIBLE": "0",
    }


def hgloc(store: Path, env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], env=env)


def key(model_id: str, name: str) -> str:
    return f"team/models/{model_id.replace('/', '_')}/default_revision/{name}"


def rot(moto: MotoServer, bucket: str, object_key: str, at: int | None = None) -> None:
    """Flip one bit of an object, keeping its metadata: what the bucket says stays the same."""
    client = moto.client()
    got = client.get_object(Bucket=bucket, Key=object_key)
    data = bytearray(got["Body"].read())
    data[len(data) // 2 if at is None else at] ^= 0x01
    client.put_object(Bucket=bucket, Key=object_key, Body=bytes(data), Metadata=got["Metadata"])


def body(moto: MotoServer, bucket: str, object_key: str) -> bytes:
    data: bytes = moto.client().get_object(Bucket=bucket, Key=object_key)["Body"].read()
    return data


async def share(hub: HubEmulator, moto: MotoServer, bucket: str, store: Path) -> list[str]:
    ids = [r for r in hub.repos if r != BIG][:6]
    config = Config(**{**_config(hub, moto, bucket), "models_store_path": store})
    async with Localizer(config, retry=FAST_RETRY) as loc:
        assert (await loc.prefetch(ids)).ok
        assert (await loc.download(BIG, metadata_only=False)).ok
    return ids


def _config(hub: HubEmulator, moto: MotoServer, bucket: str) -> dict[str, Any]:
    return {
        "hf_endpoint": hub.url,
        "offline": False,
        "s3_bucket_name": bucket,
        "s3_endpoint_url": moto.endpoint_url,
        "aws_access_key_id": moto.access_key_id,
        "aws_secret_access_key": moto.secret_access_key,
        "s3_data_prefix": "team",
    }


@pytest.mark.parametrize("who", ["the member who shared it", "a member with an empty store"])
def test_verify_s3_catches_one_flipped_byte_and_repair_fixes_it(
    hub: HubEmulator, moto: MotoServer, bucket: str, tmp_path: Path, who: str, figures: Figures
) -> None:
    sharer = tmp_path / "sharer"
    ids = anyio.run(share, hub, moto, bucket, sharer)
    store = sharer if who.startswith("the member") else tmp_path / "empty"
    env = env_for(hub, moto, bucket)
    victim, name = ids[0], "config.json"
    rot(moto, bucket, key(victim, name))
    rot(moto, bucket, key(BIG, "model.safetensors"), at=BIG_SIZE - 7)  # deep in the last part

    caught = hgloc(store, env, "verify", "--s3")
    assert caught.exit_code == 1, caught.output
    damaged = [line for line in caught.stderr.splitlines() if line.startswith("DAMAGED")]
    assert sorted(damaged) == sorted([f"DAMAGED  {victim}", f"DAMAGED  {BIG}"])
    assert f"{key(victim, name)}: git sha1 does not match" in caught.stderr
    assert f"{key(BIG, 'model.safetensors')}: sha256 does not match" in caught.stderr
    report = json.loads(hgloc(store, env, "verify", "--s3", "--json").stdout)
    assert (report["models"], report["damaged"]) == (len(ids) + 1, 2)

    repaired = hgloc(store, env, "verify", "--s3", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert sorted(line for line in repaired.stdout.splitlines() if line.startswith("REPAIRED")) == (
        sorted([f"REPAIRED {victim}", f"REPAIRED {BIG}"])
    )
    assert body(moto, bucket, key(victim, name)) == source_files(hub, victim)[name]
    assert (
        body(moto, bucket, key(BIG, "model.safetensors"))
        == source_files(hub, BIG)["model.safetensors"]
    )
    again = hgloc(store, env, "verify", "--s3", "--json")
    assert again.exit_code == 0, again.output
    final = json.loads(again.stdout)
    assert final["damaged"] == 0
    index = json.loads(body(moto, bucket, "team/private_models_index.json"))
    assert sorted(e["model_id"] for e in index.values()) == sorted([*ids, BIG])
    theme = f"verify --s3 ({who})"
    figures.add(theme, "models", final["models"])
    figures.add(theme, "bytes checked", final["bytes"])
    figures.add(theme, "flipped bytes caught", report["damaged"])
    figures.add(theme, "repaired", 2)


def test_repair_never_uploads_a_damaged_local_copy(
    hub: HubEmulator, moto: MotoServer, bucket: str, tmp_path: Path, figures: Figures
) -> None:
    """Both copies rotted: the bucket is repaired from the Hub, not from the local copy."""
    store = tmp_path / "sharer"
    ids = anyio.run(share, hub, moto, bucket, store)
    env = env_for(hub, moto, bucket)
    victim = ids[1]
    rot(moto, bucket, key(victim, "config.json"))
    local = next(store.rglob(f"{victim.replace('/', '_')}/default_revision/config.json"))
    data = bytearray(local.read_bytes())
    data[3] ^= 0x01
    local.write_bytes(bytes(data))

    repaired = hgloc(store, env, "verify", "--s3", "--repair")
    assert repaired.exit_code == 0, repaired.output
    source = source_files(hub, victim)["config.json"]
    assert body(moto, bucket, key(victim, "config.json")) == source
    assert local.read_bytes() == source
    assert hgloc(store, env, "verify").exit_code == 0
    assert hgloc(store, env, "verify", "--s3").exit_code == 0
    figures.add("verify --s3 (both copies rotted)", "repaired from the Hub", 1)
