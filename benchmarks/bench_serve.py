"""``hgloc serve`` against nginx and olah, over the same files, in one run.

    python benchmarks/bench_serve.py                      # 3 runs, 50 configs, a 1 GB file
    python benchmarks/bench_serve.py --runs 5 --workers 2
    python benchmarks/bench_serve.py --smoke              # tiny, seconds; skips what is missing

Two jobs, each run ``--runs`` times, with every server up at once:

- ``GET config.json`` of 50 models, cycled by a Lua script, ``wrk -t1 -c32``,
  one server after the other (the first one changes from run to run);
- one 1 GB file (``--big-mb``) through ``curl -o /dev/null``: the median of
  ``--downloads`` (5) per server, taken in turns (one from each server, then
  again), with the server's resident memory before and after.

The store is filled once from a Hub emulator (cards and configs, as
``hgloc download`` does) plus the big file; nginx serves the same files
through symlinks laid out as the Hub's URLs (``/{id}/resolve/main/{file}``);
olah (a public HF mirror) pulls through the same emulator. nginx and wrk come
from the system (``apt-get install nginx wrk``), olah from PyPI in a venv of its
own (``--olah /path/to/venv/bin/python``, default ``/tmp/olah-venv``); a missing
one is skipped with a note. ``--granian`` adds hgloc's app under granian (which
implements ``http.response.pathsend``: big local files are read and sent by
granian itself, not by Python), when granian is importable. One JSON line of results goes to
benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import append_result, print_table

BIG_REPO = "hgloc-bench/big-file"
BIG_FILE = "model.safetensors"
WRK_SCRIPT = """
paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx2

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx2.HTTPError):
            httpx2.get(url, timeout=2)
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (workers), in MB."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


# -- the store ---------------------------------------------------------------------------------


def fill_store(hub_url: str, store: Path, count: int, big_mb: int) -> list[str]:
    """Cards and configs of ``count`` models from the emulator, plus one big file; the ids."""
    import anyio

    from hgloc import Localizer
    from hgloc.config import Config
    from hgloc.layout import METADATA_FILE, FileRecord, ModelRecord
    from hgloc_testing import make_corpus

    corpus = make_corpus(count * 2, seed=0)
    ids = [r.repo_id for r in corpus if "config.json" in r.commits[-1]][:count]
    config = Config(models_store_path=store, hf_endpoint=hub_url, offline=False)

    async def main() -> None:
        async with Localizer(config) as loc:
            report = await loc.prefetch(ids, upload=False)
            assert report.ok, report
            prefix = loc.model_prefix(BIG_REPO)
        folder = store / prefix
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        block = os.urandom(1 << 20)
        with open(folder / BIG_FILE, "wb") as out:
            for i in range(big_mb):
                chunk = hashlib.sha256(i.to_bytes(8, "big")).digest() + block[32:]
                digest.update(chunk)
                out.write(chunk)
        size = big_mb << 20
        record = ModelRecord(
            model_id=BIG_REPO,
            revision=None,
            commit="b" * 40,
            files={BIG_FILE: FileRecord(BIG_FILE, size, sha256=digest.hexdigest())},
            is_full_model=True,
        )
        (folder / METADATA_FILE).write_bytes(record.to_bytes())

    anyio.run(main)
    return ids


def nginx_root(store: Path, ids: list[str], root: Path) -> None:
    """Symlinks laid out as the Hub's URLs, to the store's own files."""
    from hgloc import Localizer
    from hgloc.config import Config

    loc = Localizer(Config(models_store_path=store))
    for model_id, name in [*((i, "config.json") for i in ids), (BIG_REPO, BIG_FILE)]:
        link = root / model_id / "resolve" / "main" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(store / loc.model_prefix(model_id) / name)


# -- the servers -------------------------------------------------------------------------------


@contextlib.contextmanager
def python_server(command: list[str], port: int, store: Path) -> Iterator[tuple[str, int]]:
    """``python -m <command>`` on ``port`` with this checkout's hgloc; stopped with SIGINT."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HGLOC_", "HF_"))}
    # The caller's path stays (after this checkout's): it may add httptools, uvloop, granian.
    paths = [str(ROOT / p) for p in ("src", "testing/src")] + [os.environ.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["HGLOC_MODELS_STORE_PATH"] = str(store)
    proc = subprocess.Popen(
        [sys.executable, "-m", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/")
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def hgloc_server(store: Path, workers: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
    port = free_port()
    command = ["hgloc", "--quiet", "--store", str(store), "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    return python_server(command, port, store)


def granian_server(store: Path, workers: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """The same app (``create_app``) under granian, which reads and sends big local files."""
    port = free_port()
    command = ["granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    command += ["--no-access-log", "hgloc.serve:create_app"]
    return python_server(command, port, store)


@contextlib.contextmanager
def nginx_server(root: Path, work: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    conf = work / "nginx.conf"
    # Workers run as the user that owns the temporary store (root: nginx's default is nobody).
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        disable_symlinks off;
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)])
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/")
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextlib.contextmanager
def olah_server(python: str, hub_url: str, work: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    netloc = hub_url.split("://", 1)[1]
    command = [python, "-m", "olah.server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--hf-scheme", "http", "--hf-netloc", netloc, "--hf-lfs-netloc", netloc]
    command += ["--repos-path", str(work / "repos")]
    log = open(work / "olah.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/", timeout=60)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# -- the jobs ----------------------------------------------------------------------------------


def wrk(url: str, paths_file: Path, seconds: int, work: Path, notes: list[str], name: str) -> float:
    """Requests per second; a note for each run where some answers took over 2 s."""
    script = work / "cycle.lua"
    script.write_text(WRK_SCRIPT % paths_file)
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if found is None or errors is not None:
        raise RuntimeError(f"wrk against {url} failed:\n{out}")
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", out)
    if timeouts is not None and int(timeouts.group(1)) > 0:
        # wrk gives up on an answer after 2 s: a slow server is counted, not failed.
        notes.append(f"{name}: {timeouts.group(1)} requests took over 2 s (wrk timeouts)")
    return float(found.group(1))


def curl_big(
    servers: dict[str, tuple[str, int]], times: int
) -> dict[str, tuple[float, float, float]]:
    """MB/s of the big file from each server, and the server's RSS before and after (MB).

    Each server's median of ``times`` downloads, taken in turns (one from each
    server, then again): a download takes well under a second on loopback, so
    whatever else the machine runs meanwhile falls on all servers alike, not on
    whichever was measured in a busy second. One download from each first warms
    the page cache and the server.
    """
    before = {name: rss_mb(pid) for name, (_, pid) in servers.items()}
    speeds: dict[str, list[float]] = {name: [] for name in servers}
    for turn in range(times + 1):
        for name, (url, _) in servers.items():
            out = subprocess.run(
                ["curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download}",
                 f"{url}/{BIG_REPO}/resolve/main/{BIG_FILE}"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            if turn:
                speeds[name].append(float(out) / 1e6)
    return {
        name: (statistics.median(speeds[name]), before[name], rss_mb(pid))
        for name, (_, pid) in servers.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per server")
    parser.add_argument(
        "--downloads", type=int, default=5, help="big-file downloads per server and run"
    )
    parser.add_argument("--workers", type=int, default=1, help="hgloc serve --workers")
    parser.add_argument("--olah", default="/tmp/olah-venv/bin/python")
    parser.add_argument(
        "--granian", action="store_true", help="also hgloc's app under granian (pathsend)"
    )
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.models, args.big_mb, args.seconds, args.downloads = 1, 5, 8, 1, 1
    notes: list[str] = []
    servers = ["hgloc"]
    for tool in ("nginx", "wrk", "curl"):
        if shutil.which(tool) is None:
            notes.append(f"{tool} is not installed (apt-get install {tool}): skipped")
    if shutil.which("nginx") is not None:
        servers.append("nginx")
    if args.granian:
        if importlib.util.find_spec("granian") is not None:
            servers.append("granian")
        else:
            notes.append("granian is not importable (pip install granian): skipped")
    if Path(args.olah).exists():
        servers.append("olah")
    else:
        notes.append(f"olah is not installed ({args.olah}; pip install olah in a venv): skipped")
    has_wrk, has_curl = shutil.which("wrk") is not None, shutil.which("curl") is not None

    from hgloc_testing import HubEmulator

    rps: dict[str, list[float]] = {s: [] for s in servers}
    big: dict[str, list[tuple[float, float, float]]] = {s: [] for s in servers}
    with tempfile.TemporaryDirectory(prefix="hgloc-bench-serve-") as tmp:
        work = Path(tmp)
        with HubEmulator.run_in_subprocess(args.models * 2, seed=0) as hub_url:
            store = work / "store"
            ids = fill_store(hub_url, store, args.models, args.big_mb)
            (work / "www").mkdir()
            nginx_root(store, ids, work / "www")
            paths = work / "paths.txt"
            paths.write_text("".join(f"/{i}/resolve/main/config.json\n" for i in ids))
            for run in range(args.runs):
                order = servers[run % len(servers) :] + servers[: run % len(servers)]
                with contextlib.ExitStack() as stack:
                    up: dict[str, tuple[str, int]] = {}
                    for name in order:
                        (work / name).mkdir(exist_ok=True)
                        if name == "hgloc":
                            server = hgloc_server(store, args.workers)
                        elif name == "granian":
                            server = granian_server(store, args.workers)
                        elif name == "nginx":
                            server = nginx_server(work / "www", work / "nginx")
                        else:
                            server = olah_server(args.olah, hub_url, work / "olah")
                        up[name] = stack.enter_context(server)
                    for name in order if has_wrk else []:
                        if name not in rps:
                            continue
                        url = up[name][0]
                        try:
                            wrk(url, paths, 1, work, [], name)  # warm: olah pulls, caches fill
                            rps[name].append(wrk(url, paths, args.seconds, work, notes, name))
                        except RuntimeError as exc:
                            if name != "olah":
                                raise
                            notes.append(f"olah failed, left out: {str(exc)[:300]}")
                            del rps[name]
                    if has_curl:
                        # olah would pull the file upstream: not asked for it.
                        files = {n: up[n] for n in order if n != "olah"}
                        for name, got in curl_big(files, args.downloads).items():
                            big[name].append(got)
    report(args, servers, rps, big, notes)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def report(
    args: Any,
    servers: list[str],
    rps: dict[str, list[float]],
    big: dict[str, list[tuple[float, float, float]]],
    notes: list[str],
) -> None:
    rows = []
    for name in servers:
        speeds = [b[0] for b in big[name]]
        growth = [b[2] - b[1] for b in big[name]]
        ratio_rps = ratio_big = "-"
        if name != "nginx" and rps.get("nginx") and rps.get(name):
            ratios = [a / b for a, b in zip(rps[name], rps["nginx"], strict=False)]
            digits = 1 if min(ratios) >= 0.01 else 3  # olah is far below 1%
            ratio_rps = f"{min(ratios):.{digits}%}-{max(ratios):.{digits}%}"
        if name != "nginx" and big.get("nginx") and speeds:
            ratios = [a / b[0] for a, b in zip(speeds, big["nginx"], strict=False)]
            ratio_big = f"{min(ratios):.0%}-{max(ratios):.0%}"
        rows.append(
            [
                name,
                spread(rps.get(name, [])),
                ratio_rps,
                spread(speeds),
                ratio_big,
                f"{max(growth):+.0f}" if growth else "-",
            ]
        )
    print(
        f"{args.models} configs cycled (wrk -t1 -c32, {args.seconds} s), "
        f"{args.big_mb} MB file (curl, median of {args.downloads} in turns), {args.runs} runs; "
        "median (min-max)"
    )
    print_table(["server", "req/s", "vs nginx", "big file MB/s", "vs nginx", "RSS growth MB"], rows)
    for note in notes:
        print(f"note: {note}")
    append_result(
        "serve",
        {
            "smoke": args.smoke,
            "runs": args.runs,
            "models": args.models,
            "big_mb": args.big_mb,
            "downloads": args.downloads,
            "workers": args.workers,
            "requests_per_second": rps,
            "big_file": {k: [list(b) for b in v] for k, v in big.items()},
            "notes": notes,
        },
    )


if __name__ == "__main__":
    main()
