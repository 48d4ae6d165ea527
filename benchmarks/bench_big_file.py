"""One big file from the Hub: hgloc's parallel ranges against huggingface_hub's hf_hub_download.

    python benchmarks/bench_big_file.py                  # a 1024 MB file, 3 rounds
    python benchmarks/bench_big_file.py --size-mb 4096   # bigger
    python benchmarks/bench_big_file.py --smoke          # a 16 MB file, one round, seconds
    python benchmarks/bench_big_file.py --cdn-cap-mbps 40  # each CDN connection at 40 MB/s

The Hub emulator runs in its own process and serves ``hgloc-bench/big-file``
(a safetensors file of random bytes, redirected to its CDN host as the Hub
does). ``--cdn-cap-mbps M`` runs the emulator in Xet mode (signed CDN links, as
the Hub answers today) with each CDN connection capped at M MB/s (10^6 bytes),
as real CDN edges cap one connection: then the number of connections, not the
loopback, sets the speed. Each contender runs in its own process into its own empty store; the
rounds alternate the contenders so that a noisy machine hurts both alike. The
table reports each round's throughput and peak RSS, then the median ratio.
One JSON line of results is appended to benchmarks/results.jsonl.

hgloc verifies the file's sha256 before storing it; hf_hub_download does not.
Both download over HTTP (``HF_HUB_DISABLE_XET=1``: with ``hf_xet``,
huggingface_hub would ask the emulator for a Xet CAS it does not have).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import append_result, child_env, peak_rss_mb, print_table, settle_disk

CONTENDERS = ("hgloc", "hf_hub_download")
REPO = "hgloc-bench/big-file"
FILE = "model.safetensors"


# -- the contenders, each in its own process ----------------------------------------------------


def run_contender(name: str, url: str, store: Path) -> dict[str, Any]:
    if name == "hgloc":
        import anyio

        import hgloc

        config = hgloc.Config(models_store_path=store, hf_endpoint=url, offline=False)

        async def go() -> str:
            async with hgloc.Localizer(config) as loc:
                result = await loc.download(REPO, metadata_only=False, allow_patterns=[FILE])
            assert result.path is not None, result
            return result.path

        started = time.perf_counter()
        path = Path(anyio.run(go)) / FILE
        seconds = time.perf_counter() - started
    elif name == "hf_hub_download":
        from huggingface_hub import hf_hub_download

        started = time.perf_counter()
        path = Path(hf_hub_download(REPO, FILE, cache_dir=store))
        seconds = time.perf_counter() - started
    else:
        raise SystemExit(f"unknown contender {name}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "contender": name,
        "seconds": seconds,
        "bytes": path.stat().st_size,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # the whole process, imports included
    }


# -- the harness --------------------------------------------------------------------------------


def measure(name: str, url: str, work: Path) -> dict[str, Any]:
    store, home = work / f"{name}-store", work / f"{name}-home"
    cmd = [sys.executable, __file__, "--child", name, "--url", url, "--store", str(store)]
    settle_disk()
    try:
        out = subprocess.run(
            cmd, env=child_env(url, home), check=True, capture_output=True, text=True, timeout=1800
        )
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{name} failed:\n{exc.stderr}") from exc
    finally:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def warm_up(url: str, size_mb: int) -> None:
    """Fetch the file once, discarded: the emulator's first answer pays for page faults.

    In 64 MB ranges at once, so that a capped CDN does not make it one slow connection.
    """
    import httpx2

    def fetch(start: int) -> None:
        headers = {"Range": f"bytes={start}-{start + (64 << 20) - 1}"}
        with client.stream("GET", f"{url}/{REPO}/resolve/main/{FILE}", headers=headers) as r:
            r.raise_for_status()
            for _ in r.iter_raw():
                pass

    with (
        httpx2.Client(follow_redirects=True, timeout=600) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        list(pool.map(fetch, range(0, size_mb << 20, 64 << 20)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the file, in MB")
    parser.add_argument("--rounds", type=int, default=3, help="downloads per contender")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument(
        "--cdn-cap-mbps",
        type=float,
        default=0.0,
        help="cap each CDN connection at this many MB/s (10^6 bytes; Xet mode); 0: no cap",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run to check the script works")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_contender(args.child, args.url, Path(args.store))))
        return
    if args.smoke:
        args.size_mb, args.rounds = 16, 1

    from hgloc_testing import HubEmulator

    contenders = [c for c in args.contenders.split(",") if c]
    rows: list[dict[str, Any]] = []
    # hgloc_testing.hub reads this to add the big-file repo to what it serves.
    os.environ["HGLOC_EMULATOR_BIG_FILE_MB"] = str(args.size_mb)
    with (
        HubEmulator.run_in_subprocess(
            corpus_size=1, cdn_bandwidth=int(args.cdn_cap_mbps * 1e6), startup_timeout=600
        ) as url,
        tempfile.TemporaryDirectory(prefix="hgloc-bench-") as tmp,
    ):
        warm_up(url, args.size_mb)
        for round_ in range(args.rounds):
            order = contenders if round_ % 2 == 0 else contenders[::-1]
            for name in order:
                row = measure(name, url, Path(tmp))
                row["round"] = round_
                row["mb_per_s"] = row["bytes"] / 1e6 / row["seconds"]
                rows.append(row)

    table = [
        [
            r["contender"],
            str(r["round"]),
            f"{r['seconds']:.2f}",
            f"{r['mb_per_s']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['cpu_seconds']:.1f}",
        ]
        for r in sorted(rows, key=lambda r: (r["contender"], r["round"]))
    ]
    cap = f", CDN capped at {args.cdn_cap_mbps:g} MB/s per connection" if args.cdn_cap_mbps else ""
    print(
        f"one {args.size_mb} MB file over loopback{cap}, {args.rounds} round(s), "
        f"cpus={os.cpu_count()}"
    )
    print_table(["contender", "round", "seconds", "MB/s", "peak RSS MB", "CPU s"], table)
    summary: dict[str, dict[str, float]] = {}
    for name in contenders:
        mine = [r for r in rows if r["contender"] == name]
        summary[name] = {
            "median_mb_per_s": statistics.median(r["mb_per_s"] for r in mine),
            "best_mb_per_s": max(r["mb_per_s"] for r in mine),
            "max_peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
        }
        print(
            f"{name}: median {summary[name]['median_mb_per_s']:.0f} MB/s, best "
            f"{summary[name]['best_mb_per_s']:.0f} MB/s, peak RSS "
            f"{summary[name]['max_peak_rss_mb']:.0f} MB"
        )
    ratios: dict[str, float] = {}
    if {"hgloc", "hf_hub_download"} <= summary.keys():
        ratios["hgloc_over_hf_median_throughput"] = (
            summary["hgloc"]["median_mb_per_s"] / summary["hf_hub_download"]["median_mb_per_s"]
        )
        print(
            f"throughput ratio hgloc / hf_hub_download (medians): "
            f"{ratios['hgloc_over_hf_median_throughput']:.2f}x"
        )
    append_result(
        "big_file",
        {
            "size_mb": args.size_mb,
            "cdn_cap_mb_per_s": args.cdn_cap_mbps,
            "rounds": args.rounds,
            "smoke": args.smoke,
            "rows": rows,
            "summary": summary,
            "ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
