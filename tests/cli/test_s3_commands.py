"""The team-bucket commands and flags, end to end: a real S3 server (moto) and the Hub emulator.

list-s3-models, sync-local-model-to-s3, sync-all-local-models-to-s3, and
download-model / prefetch with --make-public and --no-s3-upload. Nothing mocked:
the CLI runs in-process (CliRunner) or as ``python -m hgloc``, configured by
environment variables as a user would.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hub_fixtures import corpus_hub, normal_ids

from hgloc import Localizer
from hgloc.cli import cli
from hgloc.cli._s3_commands import SYNC_CONCURRENCY
from hgloc.layout import bucket_id
from hgloc_testing import HubEmulator, MotoServer

from .helpers import SRC

PREFIX = "team"
META = ".hg_localization_bucket_metadata.json"
SUMMARY = re.compile(
    r"^(\d+) models?: (\d+) uploaded, (\d+) already in the bucket, (\d+) failed in \d+\.\ds$"
)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def team_hub() -> Iterator[HubEmulator]:
    """A corpus big enough for the 40-model sync; the special repos of conftest's hub lack it."""
    hub = corpus_hub(60)
    with hub.run_in_thread():
        yield hub


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.create_bucket(f"team-{uuid.uuid4().hex[:10]}")


def s3_env(
    server: MotoServer, bucket: str, hub: HubEmulator, **extra: str | None
) -> dict[str, Any]:
    """A team member's environment: the bucket, its keys, the Hub; output not a terminal."""
    env: dict[str, Any] = {
        "HF_ENDPOINT": hub.url,
        "HGLOC_S3_BUCKET_NAME": bucket,
        "HGLOC_S3_ENDPOINT_URL": server.endpoint_url,
        "HGLOC_AWS_ACCESS_KEY_ID": "testing",
        "HGLOC_AWS_SECRET_ACCESS_KEY": "testing",
        "HGLOC_S3_DATA_PREFIX": PREFIX,
        "TTY_COMPATIBLE": "0",
        "TTY_INTERACTIVE": "0",
    }
    env.update(extra)
    return env


def anonymous(env: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """``env`` without any AWS credentials: no keys, no AWS chain."""
    none = str(tmp_path / "no-aws-config")
    return {
        **env,
        "HGLOC_AWS_ACCESS_KEY_ID": None,
        "HGLOC_AWS_SECRET_ACCESS_KEY": None,
        "AWS_SHARED_CREDENTIALS_FILE": none,
        "AWS_CONFIG_FILE": none,
    }


def hgloc(store: Path, *args: str, env: dict[str, Any]) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], env=env, catch_exceptions=False)


def keys(server: MotoServer, bucket: str, prefix: str = "") -> list[str]:
    client = server.client()
    found: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [item["Key"] for item in page.get("Contents", [])]
    return sorted(found)


def read(server: MotoServer, bucket: str, key: str) -> bytes:
    body: bytes = server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def key_prefix(model_id: str) -> str:
    """A model's folder in the bucket (HG-Localization's layout), with the data prefix."""
    return f"{PREFIX}/models/{model_id.replace('/', '_')}/default_revision"


def location(bucket: str, model_id: str) -> str:
    return f"s3://{bucket}/{key_prefix(model_id)}"


# -- the seed document's Team Workflow --------------------------------------------------


def test_team_workflow(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    model_id, other_id = normal_ids(team_hub, 2)
    env = s3_env(moto, bucket, team_hub)
    one, two = tmp_path / "one", tmp_path / "two"

    # Member 1: download and share (public).
    shared = hgloc(one, "download-model", model_id, "--make-public", env=env)
    assert shared.exit_code == 0, shared.stderr
    where = location(bucket, model_id)
    assert re.fullmatch(
        rf"Downloaded {model_id} \(commit \w{{8}}\) to \S+ and shared it in {where} \(public\)\n",
        shared.stdout,
    ), shared.stdout
    assert shared.stderr == ""
    private = hgloc(one, "download-model", other_id, env=env)
    assert f"and shared it in {location(bucket, other_id)}\n" in private.stdout

    # Member 2: another store, offline; everything comes from the bucket.
    team_hub.reset_requests()
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    copied = hgloc(two, "download-model", model_id, env=offline)
    assert copied.exit_code == 0, copied.stderr
    bid = bucket_id(bucket, moto.endpoint_url)
    local = two / "by_bucket" / bid / model_id.replace("/", "_") / "default_revision"
    assert re.fullmatch(
        rf"Copied {model_id} \(commit \w{{8}}\) from the team bucket to {local}\n", copied.stdout
    ), copied.stdout

    listed = hgloc(two, "list-local-models", "--json", env=offline)
    assert [m["model_id"] for m in json.loads(listed.stdout)] == [model_id]
    card = hgloc(two, "show-model-card", model_id, env=offline)
    repo = team_hub.repos[model_id]
    assert card.stdout.encode() == repo.commits[repo.head()]["README.md"]

    s3 = hgloc(two, "list-s3-models", "--json", env=offline)
    assert s3.exit_code == 0, s3.stderr
    entries = {e["model_id"]: e for e in json.loads(s3.stdout)}
    assert set(entries) == {model_id, other_id}
    assert entries[model_id]["is_public"] is True and entries[other_id]["is_public"] is False
    assert set(entries[model_id]) == {
        "model_id", "revision", "s3_prefix", "is_public", "has_card", "has_config",
        "is_full_model", "last_updated", "commit",
    }  # fmt: skip
    assert entries[model_id]["s3_prefix"] == key_prefix(model_id)
    assert entries[model_id]["commit"] == repo.commit_sha(repo.head())
    assert s3.stderr == ""
    assert team_hub.requests == []  # member 2 never asked the Hub


def test_anonymous_member_sees_public_models_and_keeps_downloads_local(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    public_id, private_id, new_id = normal_ids(team_hub, 3, start=2)
    env = s3_env(moto, bucket, team_hub)
    one = tmp_path / "one"
    assert hgloc(one, "download-model", public_id, "--make-public", env=env).exit_code == 0
    assert hgloc(one, "download-model", private_id, env=env).exit_code == 0

    anon = anonymous(env, tmp_path)
    listed = hgloc(tmp_path / "anon", "list-s3-models", "--json", env=anon)
    assert listed.exit_code == 0, listed.stderr
    assert [e["model_id"] for e in json.loads(listed.stdout)] == [public_id]
    assert listed.stderr.startswith("Note: no AWS credentials, so only the public models")
    assert listed.stderr.count("\n") == 1

    copied = hgloc(tmp_path / "anon", "download-model", public_id, env=anon)
    assert copied.exit_code == 0, copied.stderr
    assert copied.stdout.startswith(f"Copied {public_id} (commit ")
    assert "from the team bucket's public models to " in copied.stdout

    # Not in the bucket: fetched from the Hub, and kept local (nobody can upload it).
    fetched = hgloc(tmp_path / "anon", "download-model", new_id, env=anon)
    assert fetched.exit_code == 0, fetched.stderr
    assert fetched.stdout.startswith(f"Downloaded {new_id}") and "shared" not in fetched.stdout
    assert fetched.stderr.startswith("Note: no AWS credentials for ")
    assert f"{new_id} is cached locally only" in fetched.stderr
    # --make-public cannot work without credentials: it says why, one line, exit 1.
    public = hgloc(tmp_path / "anon", "download-model", new_id, "--make-public", env=anon)
    assert public.exit_code == 1
    assert public.stderr.count("\n") == 1 and "no AWS credentials" in public.stderr
    sync = hgloc(tmp_path / "anon", "sync-local-model-to-s3", new_id, env=anon)
    assert sync.exit_code == 1
    assert sync.stderr.count("\n") == 1 and "HGLOC_AWS_ACCESS_KEY_ID" in sync.stderr


# -- --no-s3-upload, then the sync commands ---------------------------------------------


def test_no_s3_upload_then_sync_one_then_all(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    first, *rest = ids = normal_ids(team_hub, 4, start=6)
    env = s3_env(moto, bucket, team_hub)
    store = tmp_path / "store"

    local = hgloc(store, "download-model", first, "--no-s3-upload", env=env)
    assert local.exit_code == 0, local.stderr
    assert local.stdout.startswith(f"Downloaded {first}") and "shared" not in local.stdout
    fetched = hgloc(store, "prefetch", "--no-s3-upload", "--json", *rest, env=env)
    assert json.loads(fetched.stdout)["fetched"] == 3
    assert keys(moto, bucket) == []
    empty = hgloc(store, "list-s3-models", env=env)
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "No models in s3://" in empty.stderr and "sync-local-model-to-s3" in empty.stderr

    where = location(bucket, first)
    one = hgloc(store, "sync-local-model-to-s3", first, env=env)
    assert one.exit_code == 0, one.stderr
    assert one.stdout == f"Uploaded {first} to {where}\n"
    again = hgloc(store, "sync-local-model-to-s3", first, env=env)
    assert again.stdout == f"{first} is already in the bucket at {where}\n"
    quiet = hgloc(store, "--quiet", "sync-local-model-to-s3", first, env=env)
    assert quiet.stdout == f"{where}\n"

    every = hgloc(store, "sync-all-local-models-to-s3", "--concurrency", "2", env=env)
    assert every.exit_code == 0, every.stderr
    *lines, summary = every.stdout.splitlines()
    assert sorted(line.split("] ", 1)[1] for line in _timeless(lines)) == sorted(
        [f"ok      {first} (already in the bucket, T)"]
        + [f"ok      {model_id} (uploaded, T)" for model_id in rest]
    )
    assert SUMMARY.match(summary) and summary.startswith(
        "4 models: 3 uploaded, 1 already in the bucket, 0 failed"
    )

    rerun = hgloc(store, "sync-all-local-models-to-s3", "--json", env=env)
    assert rerun.exit_code == 0, rerun.stderr
    report = json.loads(rerun.stdout)  # stdout is only the document
    assert set(report) == {"total", "fetched", "uploaded", "skipped", "failed", "seconds", "models"}
    assert (report["total"], report["uploaded"], report["skipped"]) == (4, 0, 4)
    assert {m["status"] for m in report["models"]} == {"skipped"}
    assert sorted(m["model_id"] for m in report["models"]) == sorted(ids)
    assert {m["path"] for m in report["models"]} == {location(bucket, model_id) for model_id in ids}
    assert "4 models: 0 uploaded, 4 already in the bucket, 0 failed" in rerun.stderr

    table = hgloc(store, "list-s3-models", env=env)  # piped: aligned plain lines
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "MODEL", "REVISION", "PUBLIC", "CARD", "CONFIG", "KIND", "LAST_UPDATED", "S3_PREFIX"
    ]  # fmt: skip
    assert sorted(row.split()[0] for row in rows) == sorted(ids)
    assert all(
        re.fullmatch(r"\S+ +\(default\) +no +yes +yes +metadata +[\dT:-]+Z +team/models/\S+", r)
        for r in rows
    ), rows


def _timeless(lines: list[str]) -> list[str]:
    return [re.sub(r"\d+\.\d\ds\)$", "T)", line) for line in lines]


def test_sync_failures_and_json(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    [model_id] = normal_ids(team_hub, 1, start=10)
    env = s3_env(moto, bucket, team_hub)
    store = tmp_path / "store"
    missing = hgloc(store, "sync-local-model-to-s3", model_id, env=env)
    assert missing.exit_code == 1
    assert missing.stdout == ""
    assert missing.stderr.startswith("Error: ") and missing.stderr.count("\n") == 1
    assert model_id in missing.stderr and "download it first" in missing.stderr

    nothing = hgloc(store, "sync-all-local-models-to-s3", "--json", env=env)
    assert nothing.exit_code == 0
    assert json.loads(nothing.stdout)["total"] == 0
    assert "nothing to upload" in nothing.stderr

    bad = hgloc(store, "sync-local-model-to-s3", "a/../../b", env=env)
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


def test_make_public_on_a_cached_model_publishes_it(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    [model_id] = normal_ids(team_hub, 1, start=11)
    env = s3_env(moto, bucket, team_hub)
    store = tmp_path / "store"
    assert hgloc(store, "download-model", model_id, "--no-s3-upload", env=env).exit_code == 0
    public = hgloc(store, "download-model", model_id, "--make-public", env=env)
    assert public.exit_code == 0, public.stderr
    where = location(bucket, model_id)
    assert public.stdout.endswith(f"; shared it in {where} (public)\n"), public.stdout
    manifest = json.loads(read(moto, bucket, f"{PREFIX}/public_models.json"))
    assert [entry["model_id"] for entry in manifest.values()] == [model_id]


def test_make_public_on_a_model_copied_from_the_bucket_publishes_it(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    [model_id] = normal_ids(team_hub, 1, start=12)
    env = s3_env(moto, bucket, team_hub)
    assert hgloc(tmp_path / "one", "download-model", model_id, env=env).exit_code == 0
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    public = hgloc(tmp_path / "two", "download-model", model_id, "--make-public", env=offline)
    assert public.exit_code == 0, public.stderr
    assert public.stdout.startswith(f"Copied {model_id} (commit ")
    assert public.stdout.endswith(f"; made it public in {location(bucket, model_id)}\n")
    listed = json.loads(hgloc(tmp_path / "two", "list-s3-models", "--json", env=offline).stdout)
    assert [(e["model_id"], e["is_public"]) for e in listed] == [(model_id, True)]


# -- usage problems: exit 2, nothing touched ----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["list-s3-models"],
        ["list-s3-models", "--json"],
        ["sync-local-model-to-s3", "org/model"],
        ["sync-all-local-models-to-s3"],
        ["download-model", "org/model", "--make-public"],
        ["prefetch", "org/model", "--make-public"],
    ],
)
def test_no_bucket_configured_exits_2(tmp_path: Path, args: list[str]) -> None:
    store = tmp_path / "store"
    result = hgloc(store, *args, env={"TTY_COMPATIBLE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "HGLOC_S3_BUCKET_NAME" in result.stderr and "bucket" in result.stderr
    assert not store.exists()


@pytest.mark.parametrize("command", ["download-model", "prefetch"])
def test_make_public_with_no_s3_upload_is_a_contradiction(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str, command: str
) -> None:
    store = tmp_path / "store"
    env = s3_env(moto, bucket, team_hub)
    result = hgloc(store, command, "org/model", "--make-public", "--no-s3-upload", env=env)
    assert result.exit_code == 2
    assert "cannot go with --no-s3-upload" in result.stderr
    assert not store.exists()


def test_default_sync_concurrency_matches_the_core() -> None:
    default = inspect.signature(Localizer.sync_all_to_bucket).parameters["concurrency"].default
    assert default == SYNC_CONCURRENCY
    result = CliRunner().invoke(cli, ["sync-all-local-models-to-s3", "--help"])
    assert f"[default: {SYNC_CONCURRENCY}; x>=1]" in result.stdout


def test_progress_bar_on_a_terminal(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    ids = normal_ids(team_hub, 2, start=12)
    env = s3_env(moto, bucket, team_hub)
    store = tmp_path / "store"
    assert hgloc(store, "prefetch", "--no-s3-upload", *ids, env=env).exit_code == 0
    result = hgloc(store, "sync-all-local-models-to-s3", env={**env, "TTY_INTERACTIVE": "1"})
    assert result.exit_code == 0, result.stderr
    assert "sync" in result.stderr and "2/2" in result.stderr  # the bar's last frame
    assert "[1/2]" not in result.stdout
    assert result.stdout.startswith("2 models: 2 uploaded, 0 already in the bucket, 0 failed")


def test_sync_all_repairs_a_half_written_bucket(
    tmp_path: Path, team_hub: HubEmulator, moto: MotoServer, bucket: str
) -> None:
    """What an interrupted upload leaves (moto cannot keep it across a kill): made whole."""
    ids = normal_ids(team_hub, 5, start=16)
    env = s3_env(moto, bucket, team_hub)
    store = tmp_path / "store"
    assert hgloc(store, "--quiet", "prefetch", *ids, env=env).exit_code == 0  # uploaded
    client = moto.client()
    no_meta, cut_config, intact = map(key_prefix, ids[:3])
    client.delete_object(Bucket=bucket, Key=f"{no_meta}/{META}")
    client.put_object(Bucket=bucket, Key=f"{cut_config}/config.json", Body=b'{"model_ty')
    client.delete_object(Bucket=bucket, Key=f"{intact}/model_card.md")
    client.delete_object(Bucket=bucket, Key=f"{PREFIX}/private_models_index.json")

    result = hgloc(store, "sync-all-local-models-to-s3", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    status = {m["model_id"]: m["status"] for m in json.loads(result.stdout)["models"]}
    assert status == {**dict.fromkeys(ids[:3], "uploaded"), **dict.fromkeys(ids[3:], "skipped")}
    assert_bucket_mirrors_store(moto, bucket, store, ids)


# -- the S3 server dies mid-sync ------------------------------------------------------------


def test_s3_killed_mid_sync_fails_cleanly_and_a_rerun_completes_the_bucket(
    tmp_path: Path, team_hub: HubEmulator
) -> None:
    ids = normal_ids(team_hub, 40)  # its own store and bucket: overlap is fine
    store = tmp_path / "store"
    with MotoServer() as server:  # its own server: this test kills it
        bucket = server.create_bucket("killed-mid-sync")
        env = s3_env(server, bucket, team_hub)
        cached = hgloc(store, "--quiet", "prefetch", "--no-s3-upload", *ids, env=env)
        assert cached.exit_code == 0, cached.stderr
        assert keys(server, bucket) == []

        child_env = {k: v for k, v in os.environ.items() if not k.startswith("TTY_")}
        child_env.update({k: v for k, v in env.items() if v is not None and k != "TTY_INTERACTIVE"})
        child_env["PYTHONPATH"] = str(SRC)
        sync = subprocess.Popen(
            [sys.executable, "-m", "hgloc", "--store", str(store),
             "sync-all-local-models-to-s3", "--concurrency", "2"],
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not [k for k in keys(server, bucket, f"{PREFIX}/models/") if k.endswith(META)]:
                assert sync.poll() is None, "the sync ended before any model was uploaded"
                assert time.monotonic() < deadline, "no model reached the bucket in 60 s"
                time.sleep(0.01)
            server.kill()
            killed = time.monotonic()
            out, err = sync.communicate(timeout=90)
            after_kill = time.monotonic() - killed
        finally:
            if sync.poll() is None:
                sync.kill()
                sync.wait()

        assert sync.returncode == 1, (out, err)
        # It stops once the bucket is unreachable, rather than retrying every model.
        assert after_kill < 20, after_kill
        *progress, summary = out.splitlines()
        match = SUMMARY.match(summary)
        assert match, summary
        total, uploaded, skipped, failed = map(int, match.groups())
        # Uploaded ones made it into the index; a model whose files went up but whose
        # index entry did not counts as failed (the rerun completes it).
        assert (total, skipped, uploaded + failed) == (40, 0, 40)
        assert failed >= 3
        assert len(progress) == 40
        # A model can show "ok" when its files went up and still fail at the end, when
        # the bucket's index (written once per run) could not be updated.
        assert len([line for line in progress if " FAILED  " in line]) <= failed
        assert "stopped answering" in out and "rerun to resume" in out
        # stderr: one line per failed model (naming it), nothing else, no traceback.
        stderr_lines = err.splitlines()
        assert len(stderr_lines) == failed and all(
            line.startswith("FAILED  ") for line in stderr_lines
        ), err
        assert {line.split()[1].rstrip(":") for line in stderr_lines} <= set(ids)

        # moto keeps its data in memory: the restarted server has the bucket, empty.
        server.start()
        rerun = hgloc(store, "sync-all-local-models-to-s3", "--concurrency", "4", env=env)
        assert rerun.exit_code == 0, rerun.stderr
        assert rerun.stdout.splitlines()[-1].startswith("40 models: 40 uploaded")
        assert_bucket_mirrors_store(server, bucket, store, ids)


def assert_bucket_mirrors_store(
    server: MotoServer, bucket: str, store: Path, ids: list[str]
) -> None:
    """Every local model's folder is in the bucket, byte for byte, and indexed; nothing else."""
    root = store / "by_bucket" / bucket_id(bucket, server.endpoint_url)
    local = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert len(local) == 3 * len(ids)  # card, config, metadata
    expected = {f"{PREFIX}/models/{path}" for path in local}
    assert set(keys(server, bucket)) == expected | {f"{PREFIX}/private_models_index.json"}
    for path in local:
        if not path.endswith(META):  # the bucket's metadata says where it is shared
            assert read(server, bucket, f"{PREFIX}/models/{path}") == (root / path).read_bytes()
        else:
            meta = json.loads(read(server, bucket, f"{PREFIX}/models/{path}"))
            assert meta["s3_bucket_name"] == bucket and meta["type"] == "model"
    index = json.loads(read(server, bucket, f"{PREFIX}/private_models_index.json"))
    assert sorted(entry["model_id"] for entry in index.values()) == sorted(ids)
    assert sorted(index) == sorted(f"{model_id}---default_revision" for model_id in ids)
