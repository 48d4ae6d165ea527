"""Replicas over one bucket: three ``hgloc serve --s3 --upstream`` processes fetch a model once.

Each replica is a child process with its own (empty) local folder; the bucket
(moto) is shared, the upstream Hub is an emulator in this process, whose
request log counts what the replicas fetched.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hgloc.layout import METADATA_FILE
from hgloc_testing import HubEmulator, Repo

from .conftest import s3_missing_reason

SRC = Path(__file__).resolve().parents[2] / "src"
LEASE_SECONDS = 2.0
PREFIX = "team"


def cold_repo(repo_id: str) -> Repo:
    """A small full model: card, config, tokenizer, and weights big enough to be LFS."""
    seed = hashlib.sha256(repo_id.encode()).digest()
    weights = seed * (300_000 // len(seed))
    return Repo(
        repo_id,
        [
            {
                "README.md": f"---\nlicense: mit\n---\n# {repo_id}\n".encode(),
                "config.json": json.dumps({"model_type": "bert", "id": repo_id}).encode(),
                "tokenizer.json": json.dumps({"version": "1.0", "vocab": list(range(50))}).encode(),
                "model.safetensors": weights,
                "pytorch_model.bin": weights[::-1],
            }
        ],
    )


REPOS = ["replicas/burst", "replicas/killed"]


@pytest.fixture(scope="module")
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator([cold_repo(r) for r in REPOS])
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    reason = s3_missing_reason()
    if reason:
        pytest.skip(reason)
    from hgloc_testing import MotoServer

    with MotoServer() as server:
        yield server


class Replica:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url


@pytest.fixture(scope="module")
def replicas(
    hub: HubEmulator, moto: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[Replica], str]]:
    """Three replicas over one fresh bucket; yields them and the bucket's name."""
    bucket = moto.create_bucket(f"replicas-{uuid.uuid4().hex[:10]}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HGLOC_", "HF_", "AWS_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p),
        HF_HOME=str(tmp_path_factory.mktemp("hf")),
        HGLOC_S3_BUCKET_NAME=bucket,
        HGLOC_S3_ENDPOINT_URL=moto.endpoint_url,
        HGLOC_AWS_ACCESS_KEY_ID=moto.access_key_id,
        HGLOC_AWS_SECRET_ACCESS_KEY=moto.secret_access_key,
        HGLOC_S3_DATA_PREFIX=PREFIX,
        HGLOC_LEASE_SECONDS=str(LEASE_SECONDS),
        AWS_EC2_METADATA_DISABLED="true",
    )
    assert hub.url is not None
    procs = []
    for i in range(3):
        store = str(tmp_path_factory.mktemp(f"r{i}"))
        command = [sys.executable, "-m", "hgloc", "--store", store, "serve", "--s3"]
        command += ["--upstream", hub.url, "--port", "0"]
        procs.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        yield [Replica(p, _wait_for_url(p)) for p in procs], bucket
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        found = re.search(r"at (http://[^\s,]+)", line)
        if found:
            return found.group(1)
    raise AssertionError("replica did not start:\n" + "".join(lines))


def fetched_files(hub: HubEmulator, repo_id: str) -> collections.Counter[str]:
    """GETs of the repo's files upstream (resolve and CDN), per file name."""
    counts: collections.Counter[str] = collections.Counter()
    for r in hub.requests:
        if r.method == "GET" and repo_id in r.path and "/api/" not in r.path:
            counts[r.path.rpartition("/")[2]] += 1
    return counts


def get(url: str) -> httpx2.Response | Exception:
    try:
        return httpx2.get(url, timeout=60)
    except httpx2.HTTPError as exc:
        return exc


def test_a_burst_at_three_replicas_fetches_each_file_from_the_hub_once(
    hub: HubEmulator, replicas: tuple[list[Replica], str]
) -> None:
    servers, _ = replicas
    repo_id = REPOS[0]
    files = hub.repos[repo_id].commits[0]
    hub.faults.latency = 0.05  # the fetch takes a while: the whole burst overlaps it
    try:
        urls = [
            f"{server.url}/{repo_id}/resolve/main/{name}"
            for _ in range(3)
            for server in servers
            for name in ("model.safetensors", "config.json", "tokenizer.json")
        ]
        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            answers = list(pool.map(get, urls))
    finally:
        hub.faults.latency = 0.0
    for url, answer in zip(urls, answers, strict=True):
        assert isinstance(answer, httpx2.Response), (url, answer)
        assert answer.status_code == 200, (url, answer.text)
        assert answer.content == files[url.rpartition("/")[2]]
    counts = fetched_files(hub, repo_id)
    assert set(counts) == set(files) and set(counts.values()) == {1}, counts


def test_killing_the_lease_holder_mid_fetch_another_replica_completes_the_model(
    hub: HubEmulator, moto: Any, replicas: tuple[list[Replica], str]
) -> None:
    servers, bucket = replicas
    repo_id = REPOS[1]
    files = hub.repos[repo_id].commits[0]
    folder = f"{PREFIX}/models/{repo_id.replace('/', '_')}/default_revision"
    lease_key = f"{PREFIX}/_hgloc/leases/models/{repo_id.replace('/', '_')}/default_revision.json"
    client = moto.client()
    hub.faults.latency = 0.4  # slow enough to kill the holder mid-fetch
    urls = [f"{s.url}/{repo_id}/resolve/main/model.safetensors" for s in servers for _ in range(2)]
    try:
        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            pending = [pool.submit(get, url) for url in urls]
            holder = _lease_holder(client, bucket, lease_key)
            pid = int(holder.split(":")[1])
            victim = next(s for s in servers if s.proc.pid == pid)
            os.kill(pid, signal.SIGKILL)
            victim.proc.wait(timeout=10)
            _assert_nothing_half_visible(client, bucket, folder)
            hub.faults.latency = 0.05
            answers = [(url, f.result(timeout=60)) for url, f in zip(urls, pending, strict=True)]
    finally:
        hub.faults.latency = 0.0
    survivors = [(u, a) for u, a in answers if not u.startswith(victim.url)]
    for url, answer in survivors:
        assert isinstance(answer, httpx2.Response), (url, answer)
        assert answer.status_code == 200, (url, answer.text)
        assert answer.content == files["model.safetensors"]  # whole, never a partial object
    for url, answer in answers:
        if url.startswith(victim.url) and isinstance(answer, httpx2.Response):
            assert answer.status_code != 200 or answer.content == files["model.safetensors"]
    meta = client.get_object(Bucket=bucket, Key=f"{folder}/{METADATA_FILE}")["Body"].read()
    assert json.loads(meta)["is_full_model"]
    for name in files:
        stored = client.get_object(Bucket=bucket, Key=f"{folder}/{_store_name(name)}")
        assert stored["Body"].read() == files[name]
    # The lease of the dead holder was taken over, then released by whoever completed it.
    with pytest.raises(client.exceptions.NoSuchKey):
        client.get_object(Bucket=bucket, Key=lease_key)


def _store_name(repo_path: str) -> str:
    return "model_card.md" if repo_path == "README.md" else repo_path


def _lease_holder(client: Any, bucket: str, key: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(client.exceptions.NoSuchKey):
            body = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            if body.get("holder"):
                return str(body["holder"])
        time.sleep(0.02)
    raise AssertionError(f"no replica took the lease {key}")


def _assert_nothing_half_visible(client: Any, bucket: str, folder: str) -> None:
    """A metadata object, if any, names only objects that are there in full."""
    try:
        raw = client.get_object(Bucket=bucket, Key=f"{folder}/{METADATA_FILE}")["Body"].read()
    except client.exceptions.NoSuchKey:
        return
    record = json.loads(raw)
    for name, entry in record["files"].items():
        head = client.head_object(Bucket=bucket, Key=f"{folder}/{name}")
        assert head["ContentLength"] == entry["size"], name
