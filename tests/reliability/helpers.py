"""Helpers shared by the reliability tests (fixtures and the figures table are in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import hgloc
from hgloc.layout import METADATA_FILE
from hgloc.sources import Backoff, RetryPolicy
from hgloc_testing import HubEmulator, Repo

# The retry policy the issue asks for: as many attempts as production, waits 50x shorter.
FAST_RETRY = RetryPolicy(max_retries=8, backoff=Backoff(base=0.01, cap=0.2), max_retry_after=2.0)
SRC = str(Path(hgloc.__file__).resolve().parents[1])
STAGING = ".hgloc-partial"
TMP_PREFIX = ".hgloc-tmp-"
PYTHON = sys.executable


class Figures:
    """Measured numbers, by theme, printed at the end of the run."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, theme: str, name: str, value: Any) -> None:
        self.rows.setdefault(theme, {})[name] = value

    def bump(self, theme: str, name: str, by: int = 1) -> None:
        row = self.rows.setdefault(theme, {})
        row[name] = row.get(name, 0) + by


FIGURES = Figures()
"""The one table of this run (a module global: subprocess-free tests share the process)."""


# -- the store, seen from outside ------------------------------------------------------


def store_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (staging and temp files included), by relative path."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def temp_files(root: Path) -> list[str]:
    """Leftovers of interrupted atomic writes (hidden from listings)."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob(f"{TMP_PREFIX}*") if p.is_file()
    )


def source_files(hub: HubEmulator, model_id: str, commit: str | None = None) -> dict[str, bytes]:
    """A repo's files at ``commit`` (default: its head), named as a model folder names them."""
    repo: Repo = hub.repos[model_id]
    index = repo.head() if commit is None else repo.resolve(commit)
    assert index is not None
    files = dict(repo.commits[index])
    if "README.md" in files:
        files["model_card.md"] = files.pop("README.md")
    return files


def assert_folder_matches_source(folder: Path, hub: HubEmulator, record: dict[str, Any]) -> int:
    """Every file the metadata lists is on disk with the source's bytes; returns bytes checked."""
    source = source_files(hub, record["model_id"], record["commit"])
    checked = 0
    for name in record["files"]:
        data = (folder / name).read_bytes()
        assert data == source[name], f"{folder / name} differs from the source"
        checked += len(data)
    if not record["is_full_model"]:
        assert set(record["files"]) == {n for n in ("model_card.md", "config.json") if n in source}
    return checked


def metadata_files(root: Path) -> list[Path]:
    return sorted(root.rglob(METADATA_FILE))


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child interpreter that imports hgloc from this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "FORCE_COLOR"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def check_listed(config: Any, hub: HubEmulator) -> tuple[int, int]:
    """List the store with the public API; every listed model must equal its source.

    Returns (models listed, bytes compared).
    """
    import json

    from hgloc import sync

    models = sync.list_local_models(config=config)
    checked = 0
    for model in models:
        folder = Path(model["path"])
        record = json.loads((folder / METADATA_FILE).read_bytes())
        checked += assert_folder_matches_source(folder, hub, record)
    return len(models), checked


def fault_counts(hub: HubEmulator) -> dict[str, int]:
    """Injected faults by kind, from the emulator's request records."""
    counts: dict[str, int] = {}
    for request in hub.requests:
        if request.fault:
            counts[request.fault] = counts.get(request.fault, 0) + 1
    return counts


def big_repo(repo_id: str, size: int, *, small_files: int = 0, seed: int = 0) -> Repo:
    """A repo with a card, a config, ``small_files`` small JSON files and one big LFS file."""
    import random

    rng = random.Random(seed)
    files = {
        "README.md": f"# {repo_id}\n\nA big model for the reliability tests.\n".encode(),
        "config.json": b'{"model_type": "bert", "hidden_size": 64}\n',
        "model.safetensors": rng.randbytes(size),
    }
    for i in range(small_files):
        files[f"extra/file-{i:02d}.json"] = b'{"i": %d, "pad": "%s"}\n' % (i, b"x" * (100 * i))
    repo = Repo(repo_id, [files])
    repo.entry(0, "model.safetensors")  # hash it now, not during the first request
    return repo


def staged_bytes(root: Path) -> int:
    """Bytes the staging area holds for sure: the sum of every ``.parts`` counter."""
    import struct

    header = struct.Struct("<4sIQQQ")  # magic, version, file size, first part length, parts
    total = 0
    for parts in root.rglob("*.parts"):
        raw = parts.read_bytes()
        if len(raw) < header.size:
            continue
        count = header.unpack_from(raw)[4]
        total += sum(struct.unpack_from(f"<{count}Q", raw, header.size))
    return total


def ranged_bytes(hub: HubEmulator, size: int) -> int:
    """Bytes asked for by the CDN requests of a run (whole-file GETs count as ``size``)."""
    total = 0
    for request in hub.requests:
        if not request.is_cdn or request.status >= 400:
            continue
        spec = request.headers.get("range")
        if spec is None:
            total += size
            continue
        first, _, last = spec.removeprefix("bytes=").partition("-")
        total += (int(last) if last else size - 1) - int(first) + 1
    return total


class PausableProxy:
    """A TCP proxy on loopback that can hold every byte: an S3 that stops answering.

    While paused, connections are still accepted (as by a server that is alive but
    stuck) and whatever either side sends waits in the proxy until :meth:`resume`.
    """

    def __init__(self, target_port: int) -> None:
        import socket
        import threading

        self.target_port = target_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._closed = False
        threading.Thread(target=self._accept, name="pausable-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pause(self) -> None:
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self._open.set()
        self._server.close()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        import socket

        try:
            while data := src.recv(1 << 16):
                self._open.wait()  # paused: the bytes wait here
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")
