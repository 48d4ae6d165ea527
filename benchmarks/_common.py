"""Helpers shared by the benchmark scripts: results file, tables, memory."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.jsonl"


def child_env(url: str, home: Path) -> dict[str, str]:
    """The environment of a contender's process: the emulator as the Hub, a fresh cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HGLOC_"))}
    src = str(Path(__file__).resolve().parent.parent / "src")
    env.update(
        HF_ENDPOINT=url,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
        PYTHONPATH=os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p),
    )
    return env


def settle_disk() -> None:
    """Write out every dirty page before a contender starts, outside its timing.

    A store's writes are made durable with ``syncfs``, which flushes the whole
    filesystem: without this, a contender would also pay for what the one
    before it left unwritten (up to 30 s of another tool's writes).
    """
    os.sync()


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds a command takes, output thrown away."""
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    Linux's ``VmHWM`` is this program's own peak. ``ru_maxrss`` is not, in a child:
    it keeps the peak of the parent that spawned it (carried across ``exec``), so a
    contender would be charged for the harness's memory.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
    }


def append_result(benchmark: str, data: dict[str, Any]) -> None:
    """Append one JSON line: what ran, where, when, and its numbers."""
    line = {
        "benchmark": benchmark,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **data,
    }
    if data.get("smoke"):
        return  # smoke runs check that the script works; their numbers mean nothing
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(line) + "\n")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
