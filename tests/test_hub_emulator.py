"""The Hub emulator: fidelity with stock huggingface_hub, fault knobs, corpus."""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import hub_fixtures
import pytest
from huggingface_hub import ModelCard
from huggingface_hub.utils import parse_ratelimit_headers

from hgloc_testing import (
    SPECIAL_TOKEN,
    Faults,
    HubEmulator,
    Repo,
    git_blob_sha1,
    make_corpus,
    special_repos,
)

UNGRANTED = hub_fixtures.UNGRANTED_TOKEN
SPECIALS = special_repos()


def content(name: str, path: str, commit: int = -1) -> bytes:
    return SPECIALS[name].commits[commit][path]


# -- fidelity: the stock huggingface_hub client, in a child process with HF_ENDPOINT set -----

FIDELITY_SCRIPT = r"""
import hashlib, json, math, socket, sys
from pathlib import Path

args = json.loads(sys.argv[1])
blocked = []
_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, *a, **k):
    if host not in ("127.0.0.1", "localhost"):
        blocked.append(str(host))
        raise OSError(f"non-loopback host blocked: {host!r}")
    return _getaddrinfo(host, *a, **k)


socket.getaddrinfo = _loopback_only

from huggingface_hub import HfApi, ModelCard, constants, hf_hub_download, snapshot_download

api = HfApi(endpoint=args["url"])
TOKEN, UNGRANTED = args["token"], args["ungranted"]
out = {"endpoint": constants.ENDPOINT}


def run(name, fn):
    try:
        out[name] = fn()
    except Exception as e:
        response = getattr(e, "response", None)
        out[name] = {
            "error": [c.__name__ for c in type(e).__mro__],
            "status": getattr(response, "status_code", None),
        }


def sha(repo_id, filename, **kw):
    return hashlib.sha256(Path(hf_hub_download(repo_id, filename, **kw)).read_bytes()).hexdigest()


def info(repo_id, **kw):
    i = api.model_info(repo_id, **kw)
    return {
        "id": i.id, "sha": i.sha, "private": i.private, "gated": i.gated, "tags": i.tags,
        "library_name": i.library_name, "pipeline_tag": i.pipeline_tag,
        "license": i.card_data.license if i.card_data else None,
        "last_modified": i.last_modified.isoformat() if i.last_modified else None,
        "siblings": {
            s.rfilename: [s.size, s.blob_id, dict(s.lfs) if s.lfs else None] for s in i.siblings
        },
    }


def files(folder):
    root = Path(folder)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def card(repo_id):
    c = ModelCard.load(repo_id)
    return {
        "license": c.data.license, "language": c.data.language, "text": c.text,
        "size": len(c.content.encode()),
    }


def tree(repo_id, **kw):
    entries = api.list_repo_tree(repo_id, **kw)
    return [[e.__class__.__name__, e.path, getattr(e, "size", None)] for e in entries]


def nan(repo_id):
    config = json.loads(Path(hf_hub_download(repo_id, "config.json")).read_text())
    return math.isnan(config["classifier_threshold"])


run("regular", lambda: sha("hgloc-test/lfs", "config.json"))
run("lfs", lambda: sha("hgloc-test/lfs", "model.safetensors", token=TOKEN))
run("renamed", lambda: sha("tiny-gpt2", "config.json"))
run("tag", lambda: sha("hgloc-test/revisions", "config.json", revision="v1.0"))
run("commit", lambda: sha("hgloc-test/revisions", "config.json", revision=args["commit1"]))
run("pr", lambda: sha("hgloc-test/revisions", "config.json", revision="refs/pr/1"))
run("nan", lambda: nan("hgloc-test/config-nan"))
run("info", lambda: info("hgloc-test/lfs"))
run("info_blobs", lambda: info("hgloc-test/lfs", files_metadata=True))
run("info_pr", lambda: info("hgloc-test/revisions", revision="refs/pr/1")["sha"])
run("info_renamed", lambda: info("tiny-gpt2")["id"])
run("info_gated_anon", lambda: info("hgloc-test/gated")["gated"])
run("card", lambda: card("hgloc-test/unicode-card"))
run("huge_card", lambda: card("hgloc-test/huge-card")["size"])
run("gated_card", lambda: card("hgloc-test/gated")["license"])
run("snapshot_many", lambda: len(files(snapshot_download("hgloc-test/many-files"))))
run("snapshot_lfs", lambda: files(snapshot_download("hgloc-test/lfs", token=TOKEN)))
run("tree", lambda: tree("hgloc-test/many-files", recursive=True))
run("tree_root", lambda: tree("hgloc-test/many-files"))
run("tree_dir", lambda: tree("hgloc-test/many-files", path_in_repo="shards/part-1"))
run("missing_repo", lambda: sha("hgloc-test/nope", "config.json"))
run("missing_repo_info", lambda: info("hgloc-test/nope"))
run("missing_repo_token", lambda: sha("hgloc-test/nope", "config.json", token=UNGRANTED))
run("private_anon", lambda: sha("hgloc-test/private", "config.json"))
run("private_ungranted", lambda: info("hgloc-test/private", token=UNGRANTED))
run("private_granted", lambda: sha("hgloc-test/private", "config.json", token=TOKEN))
run("gated_anon", lambda: sha("hgloc-test/gated", "config.json"))
run("gated_ungranted", lambda: sha("hgloc-test/gated", "config.json", token=UNGRANTED))
run("gated_granted", lambda: sha("hgloc-test/gated", "model.safetensors", token=TOKEN))
run("bad_revision", lambda: sha("hgloc-test/lfs", "config.json", revision="nope"))
run("bad_revision_info", lambda: info("hgloc-test/lfs", revision="nope"))
run("missing_file", lambda: sha("hgloc-test/lfs", "nope.json"))
run("missing_card", lambda: card("hgloc-test/config-only"))
out["blocked"] = blocked
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def fidelity(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], HubEmulator]]:
    """Run every huggingface_hub check once, in one child process; keep its requests."""
    hub = hub_fixtures.corpus_hub(25, page_size=50)
    home = tmp_path_factory.mktemp("hf_fidelity")
    script = home / "fidelity.py"
    script.write_text(FIDELITY_SCRIPT)
    revisions = hub.repos["hgloc-test/revisions"]
    with hub.run_in_thread() as url:
        args = {
            "url": url,
            "token": SPECIAL_TOKEN,
            "ungranted": UNGRANTED,
            "commit1": revisions.commit_sha(1),
        }
        proc = subprocess.run(
            [sys.executable, str(script), json.dumps(args)],
            env=hub_fixtures.hf_subprocess_env(url, home / "hf_home"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield json.loads(proc.stdout.strip().splitlines()[-1]), hub


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hf_downloads_regular_lfs_renamed_and_revisions(
    fidelity: tuple[dict[str, Any], Any],
) -> None:
    out, _ = fidelity
    assert out["blocked"] == []
    assert out["endpoint"].startswith("http://127.0.0.1:")
    assert out["regular"] == sha256(content("lfs", "config.json"))
    assert out["lfs"] == sha256(content("lfs", "model.safetensors"))
    assert out["renamed"] == sha256(content("renamed", "config.json"))
    assert out["tag"] == sha256(content("revisions", "config.json", 0))
    assert out["commit"] == sha256(content("revisions", "config.json", 1))
    assert out["pr"] == sha256(content("revisions", "config.json", 1))
    assert out["nan"] is True
    assert out["private_granted"] == sha256(content("private", "config.json"))
    assert out["gated_granted"] == sha256(content("gated", "model.safetensors"))


def test_hf_model_info(fidelity: tuple[dict[str, Any], HubEmulator]) -> None:
    out, hub = fidelity
    repo = hub.repos["hgloc-test/lfs"]
    info, blobs = out["info"], out["info_blobs"]
    assert info["id"] == "hgloc-test/lfs" and info["sha"] == repo.commit_sha(0)
    assert info["private"] is False and info["gated"] is False
    assert info["library_name"] == "transformers" and info["license"] == "mit"
    assert info["last_modified"].startswith("2022-03-02")
    assert sorted(info["siblings"]) == sorted(repo.commits[0])
    assert info["siblings"]["config.json"] == [None, None, None]
    weights = repo.entry(0, "model.safetensors")
    assert weights is not None and weights.pointer_size is not None
    assert blobs["siblings"]["model.safetensors"] == [
        weights.size,
        weights.oid,
        {"size": weights.size, "sha256": weights.sha256, "pointer_size": weights.pointer_size},
    ]
    data = repo.commits[0]["config.json"]
    assert blobs["siblings"]["config.json"] == [len(data), git_blob_sha1(data), None]
    assert out["info_pr"] == hub.repos["hgloc-test/revisions"].commit_sha(1)
    assert out["info_renamed"] == "hgloc-test/tiny-gpt2"
    assert out["info_gated_anon"] == "manual"  # model info of gated repos is public


def test_hf_model_card_load(fidelity: tuple[dict[str, Any], Any]) -> None:
    out, _ = fidelity
    assert out["card"]["license"] == "cc-by-4.0"
    assert out["card"]["language"] == ["zh", "ja", "ar", "he", "fa"]
    assert "多言語モデル 🌏 نموذج" in out["card"]["text"]
    assert out["huge_card"] > 400_000  # ModelCard re-dumps the front matter: sizes differ a bit
    assert out["gated_card"] == "mit"  # the Hub serves cards of gated repos to anyone
    assert "EntryNotFoundError" in out["missing_card"]["error"]


def test_hf_snapshot_and_paginated_tree(fidelity: tuple[dict[str, Any], HubEmulator]) -> None:
    out, hub = fidelity
    assert out["snapshot_many"] == 153
    assert (
        out["snapshot_lfs"] == sorted(SPECIALS["lfs"].commits[0]) and len(out["snapshot_lfs"]) == 4
    )
    kinds = [kind for kind, _, _ in out["tree"]]
    assert kinds.count("RepoFile") == 153 and kinds.count("RepoFolder") == 4
    assert out["tree_root"][0][:2] == ["RepoFolder", "shards"]
    assert [p for _, p, _ in out["tree_dir"]][:2] == [
        "shards/part-1/chunk-050.json",
        "shards/part-1/chunk-051.json",
    ]
    pages = [
        r
        for r in hub.requests
        if r.path.endswith("many-files/tree/main") and "recursive" in r.query
    ]
    assert len([r for r in pages if "cursor=" in r.query]) >= 3  # 157 entries, 50 per page


@pytest.mark.parametrize(
    ("check", "error", "status"),
    [
        ("missing_repo", "RepositoryNotFoundError", 401),
        ("missing_repo_info", "RepositoryNotFoundError", 401),
        ("missing_repo_token", "RepositoryNotFoundError", 404),
        ("private_anon", "RepositoryNotFoundError", 401),
        ("private_ungranted", "RepositoryNotFoundError", 404),
        ("gated_anon", "GatedRepoError", 401),
        ("gated_ungranted", "GatedRepoError", 403),
        ("bad_revision", "RevisionNotFoundError", 404),
        ("bad_revision_info", "RevisionNotFoundError", 404),
        ("missing_file", "EntryNotFoundError", 404),
    ],
)
def test_hf_errors(
    fidelity: tuple[dict[str, Any], Any], check: str, error: str, status: int
) -> None:
    out, _ = fidelity
    assert error in out[check]["error"]
    assert out[check]["status"] == status


def test_hf_never_sends_the_token_to_the_cdn(fidelity: tuple[dict[str, Any], HubEmulator]) -> None:
    _, hub = fidelity
    cdn = [r for r in hub.requests if r.is_cdn]
    assert cdn and all(r.host.startswith("localhost:") for r in cdn)
    assert not any(r.has_auth for r in cdn)
    resolved = [
        r for r in hub.requests if r.path == "/hgloc-test/lfs/resolve/main/model.safetensors"
    ]
    assert resolved and all(r.authorization == f"Bearer {SPECIAL_TOKEN}" for r in resolved)
    assert all(r.host.startswith("127.0.0.1:") for r in hub.requests if not r.is_cdn)


# -- the protocol, in process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def shared() -> Iterator[HubEmulator]:
    hub = hub_fixtures.corpus_hub(25, page_size=50)
    with hub.run_in_thread():
        yield hub


@pytest.fixture
def hub(shared: HubEmulator) -> Iterator[HubEmulator]:
    """The module's emulator with default faults and no recorded requests."""
    shared.faults = Faults()
    shared.reset_requests()
    yield shared
    shared.faults = Faults()


@pytest.fixture
def client(hub: HubEmulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=hub.url or "", timeout=10) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "token", "status", "code"),
    [
        ("/api/models/hgloc-test/nope", None, 401, "RepoNotFound"),
        ("/api/models/hgloc-test/nope", UNGRANTED, 404, "RepoNotFound"),
        ("/api/models/hgloc-test/private", None, 401, "RepoNotFound"),
        ("/api/models/hgloc-test/private", "hf_unknown_token", 401, "RepoNotFound"),
        ("/api/models/hgloc-test/private", SPECIAL_TOKEN, 200, None),
        ("/api/models/hgloc-test/gated", None, 200, None),
        ("/api/models/hgloc-test/gated/tree/main", None, 200, None),
        ("/hgloc-test/gated/resolve/main/README.md", None, 200, None),
        ("/hgloc-test/gated/resolve/main/config.json", None, 401, "GatedRepo"),
        ("/hgloc-test/gated/resolve/main/config.json", UNGRANTED, 403, "GatedRepo"),
        ("/hgloc-test/gated/resolve/main/config.json", SPECIAL_TOKEN, 200, None),
        ("/hgloc-test/lfs/resolve/nope/config.json", None, 404, "RevisionNotFound"),
        ("/api/models/hgloc-test/lfs/revision/nope", None, 404, "RevisionNotFound"),
        ("/api/models/hgloc-test/lfs/tree/nope", None, 404, "RevisionNotFound"),
        ("/hgloc-test/lfs/resolve/main/nope.json", None, 404, "EntryNotFound"),
        ("/api/models/hgloc-test/lfs/tree/main/nope", None, 404, "EntryNotFound"),
        ("/hgloc-legacy/resolve/main/config.json", None, 200, None),
        ("/api/models/hgloc-legacy/revision/main", None, 200, None),
        ("/hgloc-test/revisions/resolve/refs%2Fpr%2F1/config.json", None, 200, None),
        ("/hgloc-test/revisions/resolve/refs/pr/1/config.json", None, 200, None),
    ],
)
def test_statuses_and_error_codes(
    client: httpx2.Client, path: str, token: str | None, status: int, code: str | None
) -> None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = client.get(path, headers=headers)
    assert r.status_code == status
    assert r.headers.get("x-error-code") == code
    if code:
        assert r.headers["x-error-message"] and r.json()["error"]
    if code == "EntryNotFound" and "/resolve/" in path:
        assert r.headers["x-repo-commit"] == SPECIALS["lfs"].commit_sha(0)


def test_resolve_headers_regular_file(client: httpx2.Client) -> None:
    data = content("lfs", "config.json")
    head = client.head("/hgloc-test/lfs/resolve/main/config.json")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == f'"{git_blob_sha1(data)}"'
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["x-repo-commit"] == SPECIALS["lfs"].commit_sha(0)
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"].startswith("application/json")
    assert "x-linked-etag" not in head.headers
    ranged = client.get("/hgloc-test/lfs/resolve/main/config.json", headers={"range": "bytes=2-11"})
    assert ranged.status_code == 206 and ranged.content == data[2:12]
    assert ranged.headers["content-range"] == f"bytes 2-11/{len(data)}"


def test_resolve_lfs_redirects_to_another_host_with_ranges(client: httpx2.Client) -> None:
    data = content("lfs", "model.safetensors")
    head = client.head("/hgloc-test/lfs/resolve/main/model.safetensors")
    assert head.status_code == 302
    assert head.headers["x-linked-etag"] == f'"{sha256(data)}"'
    assert head.headers["x-linked-size"] == str(len(data))
    assert head.headers["x-repo-commit"] == SPECIALS["lfs"].commit_sha(0)
    location = head.headers["location"]
    assert location.startswith("http://localhost:") and sha256(data) in location
    whole = client.get(location)
    assert whole.content == data and whole.headers["etag"] == f'"{sha256(data)}"'
    for header, status, expected in [
        ("bytes=0-9", 206, data[:10]),
        ("bytes=100-", 206, data[100:]),
        ("bytes=-5", 206, data[-5:]),
        (f"bytes={len(data)}-", 416, b""),
    ]:
        r = client.get(location, headers={"range": header})
        assert (r.status_code, r.content) == (status, expected), header
    assert client.get(location, headers={"range": "bytes=10-19"}).headers["content-range"] == (
        f"bytes 10-19/{len(data)}"
    )


def test_token_stays_on_the_hub_when_redirects_are_followed(hub: HubEmulator) -> None:
    headers = {"authorization": f"Bearer {SPECIAL_TOKEN}"}
    with httpx2.Client(base_url=hub.url or "", follow_redirects=True, headers=headers) as c:
        r = c.get("/hgloc-test/gated/resolve/main/model.safetensors")
    assert r.content == content("gated", "model.safetensors")
    resolve, cdn = hub.requests
    assert resolve.status == 302 and resolve.authorization == headers["authorization"]
    assert cdn.is_cdn and cdn.status == 200 and not cdn.has_auth


def test_renames_answer_relative_307(client: httpx2.Client) -> None:
    r = client.get("/api/models/tiny-gpt2/revision/main?blobs=true")
    assert r.status_code == 307
    assert r.headers["location"] == "/api/models/hgloc-test/tiny-gpt2/revision/main?blobs=true"
    r = client.head("/tiny-gpt2/resolve/main/config.json")
    assert (r.status_code, r.headers["location"]) == (
        307,
        "/hgloc-test/tiny-gpt2/resolve/main/config.json",
    )
    followed = client.get("/tiny-gpt2/resolve/main/config.json", follow_redirects=True)
    assert followed.content == content("renamed", "config.json")


def test_tree_listing_and_pagination(client: httpx2.Client) -> None:
    entries: list[dict[str, Any]] = []
    url: str | None = "/api/models/hgloc-test/many-files/tree/main?recursive=true&expand=false"
    while url:
        r = client.get(url)
        assert r.status_code == 200
        entries += r.json()
        url = r.links.get("next", {}).get("url")
        assert url is None or url.startswith(str(client.base_url).rstrip("/"))
    paths = [e["path"] for e in entries]
    assert len(paths) == len(set(paths)) == 157
    assert {e["type"] for e in entries} == {"file", "directory"}
    readme = next(e for e in entries if e["path"] == "README.md")
    assert readme["oid"] == git_blob_sha1(content("many-files", "README.md"))
    lfs = client.get("/api/models/hgloc-test/lfs/tree/main").json()
    weights = next(e for e in lfs if e["path"] == "model.safetensors")
    data = content("lfs", "model.safetensors")
    assert weights["size"] == len(data) and weights["lfs"]["oid"] == sha256(data)
    assert weights["oid"] != git_blob_sha1(data)  # git stores the pointer


def test_ratelimit_headers_count_down(client: httpx2.Client) -> None:
    left = []
    for _ in range(3):
        r = client.head("/hgloc-test/lfs/resolve/main/config.json")
        info = parse_ratelimit_headers(r.headers)
        assert info is not None and info.limit == 100_000 and info.window_seconds == 300
        left.append(info.remaining)
    assert left[0] - 1 == left[1] == left[2] + 1
    assert "ratelimit" not in client.get("/api/models/hgloc-test/lfs").headers


def test_resolver_quota_exhausted_answers_429() -> None:
    hub = HubEmulator([Repo("a/b", [{"x.txt": b"x"}])], resolver_quota=2)
    with hub.run_in_thread() as url, httpx2.Client(base_url=url) as c:
        statuses = [c.get("/a/b/resolve/main/x.txt").status_code for _ in range(3)]
        last = c.get("/a/b/resolve/main/x.txt")
    assert statuses == [200, 200, 429]
    info = parse_ratelimit_headers(last.headers)
    assert info is not None and info.remaining == 0 and info.limit == 2
    assert int(last.headers["retry-after"]) > 0


@pytest.mark.anyio
async def test_latency_is_concurrent(hub: HubEmulator) -> None:
    hub.faults.latency = 0.25
    results: list[int] = []
    async with httpx2.AsyncClient(base_url=hub.url or "", timeout=10) as c:

        async def one() -> None:
            results.append((await c.get("/hgloc-test/lfs/resolve/main/config.json")).status_code)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(64):
                tg.start_soon(one)
        elapsed = time.perf_counter() - start
    assert results == [200] * 64
    assert 0.25 <= elapsed < 2.0  # 64 sequential sleeps would take 16 s


def test_error_rate_is_seeded(client: httpx2.Client, hub: HubEmulator) -> None:
    runs = []
    for _ in range(2):
        hub.faults = Faults(error_rate=0.5, seed=7)
        runs.append([client.get("/api/models/hgloc-test/lfs").status_code for _ in range(40)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503} and 8 <= runs[0].count(503) <= 32
    assert {r.fault for r in hub.requests if r.status == 503} == {"error"}


def test_fail_all(client: httpx2.Client, hub: HubEmulator) -> None:
    hub.faults.fail_all = True
    paths = ["/api/models/hgloc-test/lfs", "/hgloc-test/lfs/resolve/main/config.json"]
    assert {client.get(p).status_code for p in paths * 3} == {503}
    hub.faults.fail_all = False
    assert client.get(paths[0]).status_code == 200


def test_rate_limit_every_nth(client: httpx2.Client, hub: HubEmulator) -> None:
    hub.faults = Faults(rate_limit_every=3, retry_after=7)
    rs = [client.get("/api/models/hgloc-test/lfs") for _ in range(6)]
    assert [r.status_code for r in rs] == [200, 200, 429, 200, 200, 429]
    assert rs[2].headers["retry-after"] == "7"


def test_drop_cuts_the_body_and_the_connection(client: httpx2.Client, hub: HubEmulator) -> None:
    hub.faults.drop_rate = 1.0
    assert client.head("/hgloc-test/huge-card/resolve/main/README.md").status_code == 200
    received = bytearray()
    with (
        pytest.raises(httpx2.TransportError),
        client.stream("GET", "/hgloc-test/huge-card/resolve/main/README.md") as r,
    ):
        for chunk in r.iter_bytes():
            received += chunk
    assert 0 < len(received) < len(content("huge-card", "README.md"))
    assert hub.requests[-1].fault == "drop"
    hub.faults.drop_rate = 0.0
    assert client.get("/api/models/hgloc-test/lfs").status_code == 200  # the hub lives on


def test_corrupt_flips_one_byte_behind_true_headers(
    client: httpx2.Client, hub: HubEmulator
) -> None:
    data = content("lfs", "config.json")
    hub.faults.corrupt_paths = frozenset({"hgloc-test/lfs/config.json"})
    r = client.get("/hgloc-test/lfs/resolve/main/config.json")
    assert r.headers["etag"] == f'"{git_blob_sha1(data)}"'
    assert len(r.content) == len(data)
    assert sum(a != b for a, b in zip(r.content, data, strict=True)) == 1
    location = client.head("/hgloc-test/lfs/resolve/main/model.safetensors").headers["location"]
    hub.faults = Faults(corrupt_rate=1.0)
    assert client.get(location).content != content("lfs", "model.safetensors")


def test_oversize_sends_more_than_announced(client: httpx2.Client, hub: HubEmulator) -> None:
    data = content("lfs", "config.json")
    hub.faults.oversize_paths = frozenset({"config.json"})
    assert client.head("/hgloc-test/lfs/resolve/main/config.json").headers["content-length"] == str(
        len(data)
    )
    r = client.get("/hgloc-test/lfs/resolve/main/config.json")
    assert r.content == data + b"\0" * hub.faults.oversize_by


def test_push_commit_moves_the_branch(client: httpx2.Client, hub: HubEmulator) -> None:
    hub.add_repo(Repo("test/mutable", [{"config.json": b"{}"}]))
    before = client.get("/api/models/test/mutable").json()["sha"]
    after = hub.push_commit("test/mutable", {"config.json": b'{"a": 1}', "README.md": b"hi"})
    assert after != before and client.get("/api/models/test/mutable").json()["sha"] == after
    assert client.get("/test/mutable/resolve/main/config.json").content == b'{"a": 1}'
    assert client.get(f"/test/mutable/resolve/{before}/config.json").content == b"{}"
    assert client.get(f"/test/mutable/resolve/{before}/README.md").status_code == 404
    hub.push_commit("test/mutable", {"README.md": None}, branch="dev")
    tree = client.get("/api/models/test/mutable/tree/dev").json()
    assert [e["path"] for e in tree] == ["config.json"]


def test_big_files_stream_in_chunks(client: httpx2.Client, hub: HubEmulator) -> None:
    data = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MB: several send chunks
    hub.add_repo(Repo("test/big", [{"blob.txt": data, "model.bin": data}], lfs_threshold=1 << 20))
    for path in ("blob.txt", "model.bin"):  # LFS by size, LFS by extension
        r = client.get(f"/test/big/resolve/main/{path}", follow_redirects=True)
        assert r.content == data and r.history[0].status_code == 302
    location = client.head("/test/big/resolve/main/blob.txt").headers["location"]
    ranged = client.get(location, headers={"range": "bytes=1048570-2097160"})
    assert ranged.content == data[1048570:2097161]
    hub.faults.drop_rate = 1.0
    with pytest.raises(httpx2.TransportError):
        client.get(location)


def test_request_recording_can_be_off() -> None:
    hub = HubEmulator([Repo("a/b", [{"x.txt": b"x"}])], record_requests=False)
    with hub.run_in_thread() as url:
        assert httpx2.get(f"{url}/a/b/resolve/main/x.txt").content == b"x"
    assert hub.requests == []


def test_run_in_subprocess() -> None:
    with HubEmulator.run_in_subprocess(corpus_size=25, latency=0.0) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        info = httpx2.get(f"{url}/api/models/hgloc-test/lfs").json()
        # The stats route counts what the emulator served, not itself.
        assert httpx2.get(f"{url}/_emulator/stats").json() == {"requests": 1}
        httpx2.get(f"{url}/hgloc-test/lfs/resolve/main/nope.txt")
        assert httpx2.get(f"{url}/_emulator/stats").json() == {"requests": 2}
    assert info["sha"] == SPECIALS["lfs"].commit_sha(0)


# -- repos and corpus -----------------------------------------------------------------------


def test_repo_hashes_refs_and_lfs_rules(tmp_path: Path) -> None:
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    repo = Repo("org/x", [{"a.bin": b"1", "b.txt": b"2"}, {"b.txt": b"3"}], tags={"v1": 0})
    assert repo.is_lfs("a.bin", 1) and not repo.is_lfs("b.txt", 10)
    assert repo.is_lfs("b.txt", repo.lfs_threshold + 1)
    assert re.fullmatch("[0-9a-f]{40}", repo.commit_sha(0))
    assert repo.commit_sha(0) != repo.commit_sha(1)
    assert Repo("org/x", [{"a.bin": b"1", "b.txt": b"2"}]).commit_sha(0) == repo.commit_sha(0)
    assert Repo("org/x", [{"a.bin": b"1", "b.txt": b"X"}]).commit_sha(0) != repo.commit_sha(0)
    assert [repo.resolve(r) for r in ("main", "v1", repo.commit_sha(0), "nope", None)] == [
        1, 0, 0, None, 1,
    ]  # fmt: skip
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "config.json").write_bytes(b"{}")
    (tmp_path / "sub" / "model.safetensors").write_bytes(b"weights")
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref")
    folder = Repo.from_folder("org/saved", tmp_path, private=True)
    assert sorted(folder.commits[0]) == ["config.json", "sub/model.safetensors"] and folder.private
    entry = folder.entry(0, "sub/model.safetensors")
    assert entry is not None and entry.sha256 == sha256(b"weights")


def test_corpus_is_deterministic_and_fast() -> None:
    a, b, other = make_corpus(300, seed=1), make_corpus(300, seed=1), make_corpus(300, seed=2)
    assert [(r.repo_id, r.commits) for r in a] == [(r.repo_id, r.commits) for r in b]
    assert [r.repo_id for r in a] != [r.repo_id for r in other]
    assert [r.commit_sha(0) for r in a[:20]] == [r.commit_sha(0) for r in b[:20]]
    best = min(_timed(lambda: make_corpus(2000)) for _ in range(3))
    assert best < 1.0
    big = make_corpus(2000)
    assert len({r.repo_id for r in big}) == 2000
    legacy = sum("/" not in r.repo_id for r in big) / len(big)
    assert 0.1 < legacy < 0.3
    cards = sorted(len(r.commits[0]["README.md"]) for r in big if "README.md" in r.commits[0])
    assert 200 < cards[len(cards) // 2] < 4000
    text = b"".join(r.commits[0].get("README.md", b"") for r in big[:50]).decode()
    for sample in ("中文", "日本語", "🤗", "العربية", "עברית"):
        assert sample in text


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_corpus_specials() -> None:
    assert {r.repo_id for r in SPECIALS.values()} <= {r.repo_id for r in make_corpus(20)}
    assert not {r.repo_id for r in SPECIALS.values()} & {r.repo_id for r in make_corpus(19)}
    assert 390_000 < len(content("huge-card", "README.md")) < 450_000
    nan = content("config-nan", "config.json")
    assert b": NaN," in nan and math.isnan(json.loads(nan)["classifier_threshold"])
    assert b'"__float__": "NaN"' in content("config-nan-tagged", "config.json")
    files = {name: set(repo.commits[-1]) for name, repo in SPECIALS.items()}
    assert "config.json" not in files["card-only"] and "README.md" in files["card-only"]
    assert "README.md" not in files["config-only"] and "config.json" in files["config-only"]
    assert not {"README.md", "config.json"} & files["empty"]
    assert SPECIALS["gated"].gated == "manual" and SPECIALS["private"].private
    for repo in make_corpus(120):  # every card is valid YAML front matter for huggingface_hub
        if "README.md" in repo.commits[0]:
            card = ModelCard(repo.commits[0]["README.md"].decode())
            assert card.data.license
