"""Each benchmark script runs once on a tiny input, so none of them rots.

These check that the scripts work, not how fast anything is: smoke runs
write no results (``benchmarks/_common.append_result`` skips them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))


def test_every_benchmark_is_covered() -> None:
    assert {"bench_prefetch.py", "bench_list.py", "bench_startup.py", "bench_big_file.py"} <= set(
        SCRIPTS
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_smoke_run(script: str, tmp_path: Path) -> None:
    results = ROOT / "benchmarks" / "results.jsonl"
    before = results.read_bytes() if results.exists() else b""
    path = os.pathsep.join(str(ROOT / p) for p in ("src", "testing/src"))
    env = {**os.environ, "PYTHONPATH": path, "HF_HOME": str(tmp_path / "hf")}
    args = [sys.executable, str(ROOT / "benchmarks" / script), "--smoke"]
    if script == "bench_prefetch.py":
        args.append("--s3")
    if script == "bench_big_file.py":
        args += ["--cdn-cap-mbps", "200"]  # the emulator in Xet mode, its CDN capped
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip(), "a benchmark prints its table"
    after = results.read_bytes() if results.exists() else b""
    assert after == before, "a smoke run must not append results"
