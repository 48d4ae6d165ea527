"""Issue 15, case 7: one bad metadata file must not stop ``verify``; a garbled one is damage.

In the bucket, a metadata file naming a file outside its folder (or another model)
made ``verify --s3`` stop after one line. Locally a garbled metadata file was only a
warning: 0 damaged, exit 0, and neither ``--repair`` nor ``download --refresh`` fixed it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hgloc.cli import cli
from hgloc.layout import METADATA_FILE
from hgloc.sources import git_blob_sha1
from hgloc_testing import HubEmulator, MotoServer, Repo

IDS = ["vd/a", "vd/b", "vd/c", "vd/d"]
BAD = "vd/b"


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    repos = [
        Repo(i, [{"README.md": f"# {i}\n".encode(), "config.json": b'{"model_type": "t5"}'}])
        for i in IDS
    ]
    emulator = HubEmulator(repos)
    with emulator.run_in_thread():
        yield emulator


def hgloc(store: Path, hub: HubEmulator, *args: str, **env: Any) -> Result:
    full_env = {"HF_ENDPOINT": str(hub.url), "TTY_COMPATIBLE": "0", "TTY_INTERACTIVE": "0", **env}
    return CliRunner().invoke(
        cli, ["--store", str(store), *args], env=full_env, catch_exceptions=False
    )


def folder_of(model_id: str) -> str:
    return f"{model_id.replace('/', '_')}/default_revision"


def hostile_record(model_id: str, name: str) -> bytes:
    one = {"repo_path": "config.json", "size": 2, "git_sha1": git_blob_sha1(b"{}")}
    return json.dumps(
        {"model_id": model_id, "revision": None, "commit": "0" * 40, "files": {name: one}}
    ).encode()


@pytest.mark.parametrize(
    "metadata",
    [
        hostile_record(BAD, "../../../../escaped.json"),  # a file outside its folder
        hostile_record("vd/a", "config.json"),  # another model's metadata
        b'{"model_id": "vd/b", "files": {"config.json": ',  # garbled
    ],
    ids=["outside", "other-model", "garbled"],
)
def test_verify_s3_reports_a_bad_metadata_file_and_checks_the_rest(
    hub: HubEmulator, moto: MotoServer, tmp_path: Path, metadata: bytes
) -> None:
    bucket = moto.create_bucket(f"vd-{uuid.uuid4().hex[:8]}")
    s3 = {
        "HGLOC_S3_BUCKET_NAME": bucket, "HGLOC_S3_ENDPOINT_URL": moto.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": "testing", "HGLOC_AWS_SECRET_ACCESS_KEY": "testing",
        "HGLOC_S3_DATA_PREFIX": "team",
    }  # fmt: skip
    store = tmp_path / "store"
    assert hgloc(store, hub, "prefetch", *IDS, **s3).exit_code == 0
    key = f"team/models/{folder_of(BAD)}/{METADATA_FILE}"
    moto.client().put_object(Bucket=bucket, Key=key, Body=metadata)

    checked = hgloc(store, hub, "verify", "--s3", "--json", **s3)
    assert checked.exit_code == 1, checked.output
    report = json.loads(checked.stdout)
    assert report["models"] == len(IDS) and report["damaged"] == 1
    [bad] = [r for r in report["results"] if not r["ok"]]
    assert bad["model_id"] == BAD and "metadata" in " ".join(bad["problems"])

    repaired = hgloc(store, hub, "verify", "--s3", "--repair", "--json", **s3)
    assert repaired.exit_code == 0, repaired.output
    assert hgloc(store, hub, "verify", "--s3", **s3).exit_code == 0
    stored = moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert json.loads(stored)["model_id"] == BAD


GARBLED = [
    b'{"model_id": "vd/b", "revision": null, "files": {"config.json": ',  # truncated
    b'{"model_id": "vd/b", "files": {"config.json": {"repo_path": "c", "size": 1e400}}}',
    b"\x00\x01 not json",  # nothing readable: repaired when named
]


@pytest.mark.parametrize("garbled", GARBLED, ids=["truncated", "overflow", "binary"])
def test_a_garbled_local_metadata_file_is_damage_and_repair_rebuilds_it(
    hub: HubEmulator, tmp_path: Path, garbled: bytes
) -> None:
    store = tmp_path / "store"
    assert hgloc(store, hub, "prefetch", *IDS).exit_code == 0
    meta = store / folder_of(BAD) / METADATA_FILE
    meta.write_bytes(garbled)

    checked = hgloc(store, hub, "verify", "--json")
    assert checked.exit_code == 1, checked.output
    report = json.loads(checked.stdout)
    assert report["damaged"] == 1 and report["models"] == len(IDS)

    named = () if garbled != GARBLED[2] else (BAD,)  # an unreadable file: name the model
    repaired = hgloc(store, hub, "verify", "--repair", "--json", *named)
    assert repaired.exit_code == 0, repaired.output
    assert json.loads(meta.read_bytes())["model_id"] == BAD
    assert hgloc(store, hub, "verify").exit_code == 0


def test_download_refresh_rebuilds_a_garbled_local_metadata_file(
    hub: HubEmulator, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    assert hgloc(store, hub, "download-model", BAD).exit_code == 0
    meta = store / folder_of(BAD) / METADATA_FILE
    meta.write_bytes(GARBLED[0])
    plain = hgloc(store, hub, "download-model", BAD)
    assert plain.exit_code != 0 and "--refresh" in plain.output
    assert hgloc(store, hub, "download-model", BAD, "--refresh").exit_code == 0
    assert json.loads(meta.read_bytes())["model_id"] == BAD
    assert hgloc(store, hub, "verify").exit_code == 0
