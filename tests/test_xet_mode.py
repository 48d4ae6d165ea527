"""The emulator's Xet mode, checked against the stock huggingface_hub client (issue 14).

On its plain-HTTP path (``HF_HUB_DISABLE_XET=1``) the stock client downloads
through the signed, expiring CDN links; with ``hf_xet`` enabled it sees the Xet
hints and goes for the ``xet-read-token`` route: the bypass a mirror must prevent.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hub_fixtures import hf_subprocess_env

from hgloc_testing import HubEmulator, Repo, XetMode, special_repos

STOCK_SCRIPT = r"""
import hashlib, json, sys
from pathlib import Path
from huggingface_hub import HfApi, hf_hub_download, snapshot_download

args = json.loads(sys.argv[1])
out = {}


def run(name, fn):
    try:
        out[name] = fn()
    except Exception as e:
        out[name] = {"error": [c.__name__ for c in type(e).__mro__]}


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(repo_id):
    root = Path(snapshot_download(repo_id))
    return {p.relative_to(root).as_posix(): sha(p) for p in root.rglob("*") if p.is_file()}


run("lfs", lambda: sha(hf_hub_download("hgloc-test/lfs", "model.safetensors")))
run("regular", lambda: sha(hf_hub_download("hgloc-test/lfs", "config.json")))
run("snapshot", lambda: snapshot("hgloc-test/lfs"))
run("tree", lambda: {
    f.path: f.xet_hash for f in HfApi().list_repo_tree("hgloc-test/lfs") if hasattr(f, "xet_hash")
})
print(json.dumps(out))
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


LFS = special_repos()["lfs"]


def content(path: str) -> bytes:
    entry = LFS.entry(0, path)
    assert entry is not None
    return entry.data


@pytest.fixture(scope="module")
def xet_hub() -> Iterator[HubEmulator]:
    hub = HubEmulator([LFS], xet=XetMode())
    with hub.run_in_thread():
        yield hub


def stock(hub: HubEmulator, home: Path, *, xet: bool) -> dict[str, Any]:
    assert hub.url is not None
    script = home / "stock.py"
    script.write_text(STOCK_SCRIPT)
    env = hf_subprocess_env(hub.url, home / "hf_home")
    if xet:
        env.pop("HF_HUB_DISABLE_XET")
    proc = subprocess.run(
        [sys.executable, str(script), "{}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def stats(hub: HubEmulator) -> dict[str, Any]:
    result: dict[str, Any] = httpx2.get(f"{hub.url}/_emulator/stats").json()
    return result


def test_the_stock_client_downloads_over_http_through_signed_links(
    xet_hub: HubEmulator, tmp_path: Path
) -> None:
    xet = xet_hub.app.xet
    assert xet is not None
    xet_hub.reset_requests()
    out = stock(xet_hub, tmp_path, xet=False)
    weights = sha256(content("model.safetensors"))
    assert out["lfs"] == weights
    assert out["regular"] == sha256(content("config.json"))
    assert out["snapshot"]["model.safetensors"] == weights
    assert out["snapshot"]["config.json"] == sha256(content("config.json"))
    assert out["tree"]["model.safetensors"] == xet_hash_of("model.safetensors")
    cdn = [r for r in xet_hub.requests if r.is_cdn]
    assert cdn and all(r.path.startswith(f"/cdn/{xet.prefix}/") for r in cdn)
    assert all("X-Amz-Signature=" in r.query and "X-Amz-Expires=" in r.query for r in cdn)
    assert all(r.status == 200 and not r.has_auth for r in cdn)
    assert xet.read_token_requests == 0


def xet_hash_of(path: str) -> str:
    from hgloc_testing._xet import xet_hash

    entry = LFS.entry(0, path)
    assert entry is not None and entry.sha256 is not None
    return xet_hash(entry.sha256)


def test_with_hf_xet_the_stock_client_goes_for_the_xet_read_token(
    xet_hub: HubEmulator, tmp_path: Path
) -> None:
    pytest.importorskip("hf_xet")
    xet = xet_hub.app.xet
    assert xet is not None
    before = xet.read_token_requests
    out = stock(xet_hub, tmp_path, xet=True)
    assert "error" in out["lfs"]  # no CAS here: the bypass fails instead of succeeding
    assert out["regular"] == sha256(content("config.json"))  # regular files stay on HTTP
    assert xet.read_token_requests > before
    paths = stats(xet_hub)["paths"]
    token_paths = [p for p in paths if "/xet-read-token/" in p]
    assert token_paths and all(p.startswith("/api/models/hgloc-test/lfs/") for p in token_paths)


def test_redirect_headers_head_without_length_and_expired_links(xet_hub: HubEmulator) -> None:
    xet = xet_hub.app.xet
    assert xet is not None
    url = f"{xet_hub.url}/hgloc-test/lfs/resolve/main/model.safetensors"
    head = httpx2.head(url)
    assert head.status_code == 302
    assert "content-length" not in head.headers
    entry = LFS.entry(0, "model.safetensors")
    assert entry is not None
    assert head.headers["x-repo-commit"] == LFS.commit_sha(0)
    assert head.headers["x-linked-etag"] == f'"{entry.sha256}"'
    assert head.headers["x-linked-size"] == str(entry.size)
    assert head.headers["x-xet-hash"] == xet_hash_of("model.safetensors")
    assert 'rel="xet-auth"' in head.headers["link"]
    location = head.headers["location"]
    assert httpx2.get(location).content == entry.data
    # Tampered signature, and a link past its expiry: 403, as S3 answers.
    assert httpx2.get(location.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403
    clock = xet.clock
    xet.clock = lambda: time.time() + xet.link_ttl + 1
    try:
        assert httpx2.get(location).status_code == 403
        fresh = httpx2.head(url).headers["location"]
        assert httpx2.get(fresh).status_code == 200  # resolving again gives a working link
    finally:
        xet.clock = clock


def test_the_cdn_host_path_differs_per_run() -> None:
    assert XetMode().prefix != XetMode().prefix


def test_the_cdn_caps_each_connection() -> None:
    data = b"x" * 300_000
    hub = HubEmulator([Repo("a/big", [{"w.safetensors": data}])], xet=XetMode(bandwidth=600_000))
    with hub.run_in_thread() as url, httpx2.Client(follow_redirects=True) as client:
        started = time.monotonic()
        assert client.get(f"{url}/a/big/resolve/main/w.safetensors").content == data
        took = time.monotonic() - started
    assert took >= 0.4  # 300 KB at 600 KB/s: half a second on one connection
