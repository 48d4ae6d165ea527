"""Bulk prefetch of N models' cards and configs: hgloc against what users use today.

    python benchmarks/bench_prefetch.py                # N=500, 50 ms latency
    python benchmarks/bench_prefetch.py --n 2000       # also the peak-memory target
    python benchmarks/bench_prefetch.py --smoke        # a few models, seconds

The Hub emulator runs in its own process with a per-request latency standing
for a real network. Each contender runs in its own process, into its own
empty store, against the same emulator in the same run. The contenders take
turns for ``--rounds`` rounds (the sequential one runs once), so a noisy
spell of a shared machine hurts them alike; the table reports each one's
median time and the ratios of medians. One JSON line of results is appended
to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import append_result, child_env, peak_rss_mb, print_table, settle_disk

CONTENDERS = ("floor", "hgloc", "hgloc_warm", "hgloc_refresh", "hf_threads", "hf_sequential")
WARM = ("hgloc_warm", "hgloc_refresh")  # a second run over a full store; only it is timed
S3_CONTENDERS = ("floor_s3", "hgloc_s3")  # with --s3: into a bucket on a moto server


def model_ids(n: int) -> list[str]:
    """N ordinary corpus repos (the special edge cases are left out)."""
    from hgloc_testing import make_corpus

    ids = [r.repo_id for r in make_corpus(n + 40) if not r.repo_id.startswith("hgloc")]
    return ids[:n]


# -- contenders: each runs in a child process and prints one JSON line -----------------------


async def _floor(url: str, ids: list[str], concurrency: int) -> int:
    """Nothing but the GETs: ``concurrency`` requests in flight, bytes thrown away."""
    import anyio
    import httpx2

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    fetched = 0
    async with httpx2.AsyncClient(limits=limits, timeout=60) as client:
        limiter = anyio.Semaphore(concurrency)

        async def get(path: str) -> None:
            nonlocal fetched
            async with limiter:
                response = await client.get(path)
            fetched += len(response.content)

        async with anyio.create_task_group() as tg:
            for model_id in ids:
                tg.start_soon(get, f"{url}/{model_id}/resolve/main/README.md")
                tg.start_soon(get, f"{url}/{model_id}/resolve/main/config.json")
    return fetched


async def _floor_s3(url: str, ids: list[str], concurrency: int, bucket: str, endpoint: str) -> int:
    """The floor, plus a bare aiobotocore put of the objects hgloc leaves in the bucket.

    Per model: the card, the config and a metadata file of the same size as
    hgloc's; then the index, once. Puts run at the same concurrency.
    """
    import anyio
    import httpx2
    from aiobotocore.session import get_session
    from botocore.config import Config as BotoConfig

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    boto = BotoConfig(max_pool_connections=concurrency, s3={"addressing_style": "path"})
    fetched = 0
    async with (
        httpx2.AsyncClient(limits=limits, timeout=60) as client,
        get_session().create_client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=boto,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ) as s3,
    ):
        limiter = anyio.Semaphore(concurrency)

        def folder(model_id: str) -> str:
            return f"models/{model_id.replace('/', '_')}/default_revision"

        async def copy(model_id: str, name: str) -> None:
            nonlocal fetched
            async with limiter:
                response = await client.get(f"{url}/{model_id}/resolve/main/{name}")
                if response.status_code == 200:
                    fetched += len(response.content)
                    key = f"{folder(model_id)}/{name}"
                    await s3.put_object(Bucket=bucket, Key=key, Body=response.content)

        async def copy_model(model_id: str) -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(copy, model_id, "README.md")
                tg.start_soon(copy, model_id, "config.json")
            async with limiter:
                await s3.put_object(
                    Bucket=bucket,
                    Key=f"{folder(model_id)}/.hg_localization_bucket_metadata.json",
                    Body=_METADATA_LIKE,
                )

        async with anyio.create_task_group() as tg:
            for model_id in ids:
                tg.start_soon(copy_model, model_id)
        index = {m: {"model_id": m, "s3_prefix": folder(m)} for m in ids}
        await s3.put_object(
            Bucket=bucket, Key="private_models_index.json", Body=json.dumps(index).encode()
        )
    return fetched


# About the size of hgloc's metadata file for a card and a config.
_METADATA_LIKE = json.dumps({"model_id": "org/name", "files": "x" * 630}, indent=2).encode()


_IMPORTS = {
    "floor": ["anyio", "httpx2"],
    "floor_s3": ["anyio", "httpx2", "aiobotocore.session"],
    "hgloc": ["anyio", "hgloc", "hgloc.localize", "hgloc.sources._huggingface"],
    "hgloc_warm": ["anyio", "hgloc", "hgloc.localize", "hgloc.sources._huggingface"],
    "hgloc_refresh": ["anyio", "hgloc", "hgloc.localize", "hgloc.sources._huggingface"],
    "hgloc_s3": [
        "anyio",
        "hgloc",
        "hgloc.localize",
        "hgloc.sources._huggingface",
        "hgloc.backends._s3",
        "aiobotocore.session",
    ],
    "hf_threads": ["huggingface_hub"],
    "hf_sequential": ["huggingface_hub"],
}


def run_contender(
    name: str, url: str, ids: list[str], store: Path, concurrency: int
) -> dict[str, Any]:
    import importlib

    # Libraries are imported before the clock starts: the race is the fetching.
    for module in _IMPORTS.get(name, []):
        importlib.import_module(module)
    started = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    extra: dict[str, Any] = {}
    bucket, endpoint = os.environ.get("BENCH_BUCKET", ""), os.environ.get("BENCH_S3", "")
    if name == "floor":
        import anyio

        extra["bytes"] = anyio.run(_floor, url, ids, concurrency)
    elif name == "floor_s3":
        import anyio

        extra["bytes"] = anyio.run(_floor_s3, url, ids, concurrency, bucket, endpoint)
    elif name in ("hgloc", "hgloc_s3", *WARM):
        import anyio

        import hgloc

        config = hgloc.Config(models_store_path=store, hf_endpoint=url)
        if name == "hgloc_s3":
            config = hgloc.Config(
                models_store_path=store,
                hf_endpoint=url,
                s3_bucket_name=bucket,
                s3_endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        async def go(refresh: bool = False) -> hgloc.PrefetchReport:
            async with hgloc.Localizer(config, concurrency=concurrency) as loc:
                return await loc.prefetch(ids, refresh=refresh)

        if name in WARM:
            anyio.run(go)  # fill the store first; time only the rerun
            served_before = _served(url)
            started = time.perf_counter()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu_before = usage.ru_utime + usage.ru_stime
        report = anyio.run(go, name == "hgloc_refresh")
        extra.update(
            fetched=len(report.fetched), skipped=len(report.skipped), failed=len(report.failed)
        )
    elif name == "hf_threads":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda m: _hf_model(m, store), ids))
    elif name == "hf_sequential":
        for model_id in ids:
            _hf_model(model_id, store)
    else:
        raise SystemExit(f"unknown contender {name}")
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    extra["cpu_s"] = round(usage.ru_utime + usage.ru_stime - cpu_before, 3)
    if name in WARM:
        extra["requests"] = _served(url) - served_before
    return {
        "contender": name,
        "models": len(ids),
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        **extra,
    }


def _served(url: str) -> int:
    """Requests the emulator has answered so far (its stats route is not counted)."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as answer:
        return int(json.loads(answer.read())["requests"])


def _hf_model(model_id: str, cache: Path) -> None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    for filename in ("README.md", "config.json"):
        with contextlib.suppress(EntryNotFoundError):
            hf_hub_download(model_id, filename, cache_dir=cache)


# -- the harness --------------------------------------------------------------------------------


def _median_row(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """A contender's row: its median turn, with every turn's time, its peak memory and failures."""
    ordered = sorted(turns, key=lambda row: row["seconds"])
    row = dict(ordered[(len(ordered) - 1) // 2])  # the lower median: a turn that happened
    row["peak_rss_mb"] = max(t["peak_rss_mb"] for t in turns)
    if "failed" in row:
        row["failed"] = sum(t["failed"] for t in turns)  # over every turn, not the median's
    row["turns_s"] = [round(t["seconds"], 3) for t in turns]
    return row


def measure(
    name: str,
    url: str,
    ids: list[str],
    concurrency: int,
    work: Path,
    s3: tuple[str, str] | None = None,
) -> dict[str, Any]:
    store = work / name
    ids_file = work / f"{name}.ids"
    ids_file.write_text("\n".join(ids))
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--url",
        url,
        "--ids",
        str(ids_file),
        "--store",
        str(store),
        "--concurrency",
        str(concurrency),
    ]
    env = child_env(url, work / f"{name}-home")
    if s3 is not None:
        env.update(BENCH_BUCKET=s3[0], BENCH_S3=s3[1])
    settle_disk()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=1800)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500, help="models to prefetch")
    parser.add_argument("--latency", type=float, default=0.05, help="emulated network latency, s")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--sequential-n",
        type=int,
        default=40,
        help="models for the sequential contender (its time is scaled to N)",
    )
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns each contender takes (medians are reported)"
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="also prefetch into a bucket on a moto server (and its floor)",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run to check the script works")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        ids = Path(args.ids).read_text().split()
        print(
            json.dumps(run_contender(args.child, args.url, ids, Path(args.store), args.concurrency))
        )
        return

    if args.smoke:
        args.n, args.sequential_n, args.latency, args.rounds = 6, 3, 0.0, 1
    from hgloc_testing import HubEmulator

    ids = model_ids(args.n)
    contenders = [c for c in args.contenders.split(",") if c]
    if args.s3:
        contenders += [c for c in S3_CONTENDERS if c not in contenders]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(
            HubEmulator.run_in_subprocess(corpus_size=args.n + 40, latency=args.latency)
        )
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hgloc-bench-"))
        moto = None
        if any(c in S3_CONTENDERS for c in contenders):
            from hgloc_testing import MotoServer

            moto = stack.enter_context(MotoServer())
        run = 0
        for turn in range(max(1, args.rounds)):
            for name in contenders:
                if name == "hf_sequential" and turn > 0:
                    continue  # minutes a round, and far behind: once is enough
                subset = ids[: args.sequential_n] if name == "hf_sequential" else ids
                run += 1
                work = Path(tmp) / str(run)  # every turn starts from an empty store
                work.mkdir()
                s3 = None
                if name in S3_CONTENDERS:
                    assert moto is not None
                    s3 = (moto.create_bucket(f"bench-{run}"), moto.endpoint_url)
                row = measure(name, url, subset, args.concurrency, work, s3)
                if name == "hf_sequential":
                    row["per_model_s"] = row["seconds"] / len(subset)
                    row["seconds_scaled_to_n"] = row["per_model_s"] * len(ids)
                runs[name].append(row)
    rows = [_median_row(turns) for turns in runs.values()]

    by = {r["contender"]: r for r in rows}
    floor = by.get("floor", {}).get("seconds")
    hgloc_s = by.get("hgloc", {}).get("seconds")
    ratios: dict[str, float] = {}
    if floor and hgloc_s:
        ratios["hgloc_over_floor"] = hgloc_s / floor
    if hgloc_s and "hf_threads" in by:
        ratios["hf_threads_over_hgloc"] = by["hf_threads"]["seconds"] / hgloc_s
    if "hgloc_s3" in by and "floor_s3" in by:
        ratios["hgloc_s3_over_floor_s3"] = by["hgloc_s3"]["seconds"] / by["floor_s3"]["seconds"]
    if hgloc_s and "hf_sequential" in by:
        ratios["hf_sequential_over_hgloc"] = by["hf_sequential"]["seconds_scaled_to_n"] / hgloc_s
    table = []
    for row in rows:
        seconds = row.get("seconds_scaled_to_n", row["seconds"])
        table.append(
            [
                row["contender"],
                str(row["models"]),
                f"{row['seconds']:.2f}"
                + (
                    f" (x{len(ids)}/{row['models']} = {seconds:.1f})"
                    if "seconds_scaled_to_n" in row
                    else ""
                ),
                f"{seconds / floor:.2f}x" if floor else "-",
                f"{row['cpu_s']:.2f}",
                f"{row['peak_rss_mb']:.0f}",
                " ".join(f"{t:.2f}" for t in row["turns_s"]),
            ]
        )
    print(
        f"prefetch of {len(ids)} models, {args.latency * 1000:.0f} ms latency, "
        f"concurrency {args.concurrency}, median of {max(1, args.rounds)} rounds"
    )
    print_table(
        ["contender", "models", "seconds", "vs floor", "CPU s", "peak RSS MB", "turns s"], table
    )
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}")
    for name in WARM:
        if name in by:
            print(f"{name}: {by[name]['requests']} requests to the Hub in the timed rerun")
    for row in rows:
        if row.get("failed"):
            print(
                f"WARNING: {row['contender']} reported {row['failed']} failures",
                file=sys.stderr,
            )
    append_result(
        "prefetch",
        {
            "n": len(ids),
            "latency": args.latency,
            "concurrency": args.concurrency,
            "rounds": max(1, args.rounds),
            "smoke": args.smoke,
            "rows": rows,
            "ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
