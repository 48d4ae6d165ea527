"""Throughput features of ``hgloc serve``: small answers from memory, several workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2

from hgloc import Localizer
from hgloc.config import Config
from hgloc.layout import FileRecord, ModelRecord
from hgloc.serve import create_app
from hgloc_testing import git_blob_sha1

from .conftest import running

SRC = Path(__file__).resolve().parents[2] / "src"
MODEL = "team/small"


def save(store: Path, config: bytes, commit: str) -> Path:
    """Cache ``MODEL`` (a card and ``config``) in ``store``; the config's path on disk."""
    card = b"# small\n"
    files = {"model_card.md": card, "config.json": config}
    record = ModelRecord(
        model_id=MODEL,
        revision=None,
        commit=commit,
        files={
            "model_card.md": FileRecord("README.md", len(card), git_blob_sha1(card)),
            "config.json": FileRecord("config.json", len(config), git_blob_sha1(config)),
        },
    )

    async def main() -> str:
        async with Localizer(Config(models_store_path=store)) as loc:
            prefix = loc.model_prefix(MODEL)
            await loc.models.save(prefix, files, record)
            return prefix

    return store / anyio.run(main) / "config.json"


def test_small_answers_come_from_memory_until_the_folder_changes(tmp_path: Path) -> None:
    path = save(tmp_path, b'{"v": 1}', "1" * 40)
    app = create_app(Config(models_store_path=tmp_path), cache_seconds=0)
    with running(app) as url:
        config_url = f"{url}/{MODEL}/resolve/main/config.json"
        first = httpx2.get(config_url)
        assert first.status_code == 200 and first.content == b'{"v": 1}'
        info = httpx2.get(f"{url}/api/models/{MODEL}").json()
        path.unlink()  # behind the server's back: the answers are in memory
        again = httpx2.get(config_url)
        assert again.status_code == 200 and again.content == b'{"v": 1}'
        assert again.headers == first.headers
        assert httpx2.get(f"{url}/api/models/{MODEL}").json() == info
        # A range is read from the store, never from memory.
        assert httpx2.get(config_url, headers={"range": "bytes=0-1"}).status_code == 500

        save(tmp_path, b'{"v": 2}', "2" * 40)  # the folder changes: fresh answers
        changed = httpx2.get(config_url)
        assert changed.content == b'{"v": 2}'
        assert changed.headers["x-repo-commit"] == "2" * 40
        assert httpx2.get(f"{url}/api/models/{MODEL}").json()["sha"] == "2" * 40


def test_several_workers_serve_one_port_and_stop_on_ctrl_c(tmp_path: Path) -> None:
    save(tmp_path, b'{"v": 1}', "1" * 40)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HGLOC_", "HF_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "hgloc", "--store", str(tmp_path), "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            found = re.search(r"at (http://[^\s,]+)", proc.stderr.readline())
            url = found.group(1) if found else ""
        assert url
        answers = [
            httpx2.get(f"{url}/{MODEL}/resolve/main/config.json", timeout=30) for _ in range(8)
        ]
        assert {a.content for a in answers} == {b'{"v": 1}'}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
