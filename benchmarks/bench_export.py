"""Exporting a 1 GB model into huggingface_hub's cache layout: links on the same filesystem, copies.

    python benchmarks/bench_export.py                  # a 1024 MB file, 5 rounds
    python benchmarks/bench_export.py --size-mb 4096   # bigger
    python benchmarks/bench_export.py --smoke          # a 16 MB file, one round, seconds

A local store holds one full model (``config.json`` and a ``model.safetensors`` of
random bytes, sha256 recorded as the Hub would). Each round exports it with
``hgloc.export_models`` into an empty folder on the store's filesystem, twice:
``link`` (the default: reflink, else hard link) and ``copy`` (``hard_links=False``:
a streamed copy checked against the sha256). Rounds alternate the two. Reported
per contender: the time, the bytes the export newly allocated on disk (blocks of
files whose inode the store does not share), and the filesystem's used-space
change (``statvfs``; noisy on a shared disk). One JSON line goes to
benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import append_result, print_table, settle_disk

MODEL = "hgloc-bench/export"
COMMIT = "e" * 40
CONTENDERS = ("link", "copy")
CONFIG = b'{"model_type": "bert", "hidden_size": 16}'


def build_store(root: Path, size: int) -> None:
    """A store with one full model whose weights are ``size`` random bytes."""
    import anyio

    from hgloc import Config, Localizer
    from hgloc.hub_wire import git_blob_sha1
    from hgloc.layout import FileRecord, ModelRecord

    async def main() -> None:
        async with Localizer(Config(models_store_path=root, offline=True)) as loc:
            prefix = loc.model_prefix(MODEL)
            weights = loc.backend.target_path(f"{prefix}/model.safetensors")  # type: ignore[attr-defined]
            weights.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            block = os.urandom(1 << 20)
            with open(weights, "wb") as handle:
                for i in range(size >> 20):
                    chunk = block[i % 997 :] + block[: i % 997]  # every MiB differs
                    digest.update(chunk)
                    handle.write(chunk)
            files = {
                "config.json": FileRecord("config.json", len(CONFIG), git_blob_sha1(CONFIG)),
                "model.safetensors": FileRecord(
                    "model.safetensors", size, None, digest.hexdigest()
                ),
            }
            record = ModelRecord(MODEL, None, COMMIT, files, is_full_model=True)
            await loc.backend.write(f"{prefix}/config.json", CONFIG)
            await loc.backend.write(
                f"{prefix}/.hg_localization_bucket_metadata.json", record.to_bytes()
            )

    anyio.run(main)


def inodes(root: Path) -> set[tuple[int, int]]:
    out = set()
    for dirpath, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            out.add((st.st_dev, st.st_ino))
    return out


def new_bytes(export: Path, shared: set[tuple[int, int]]) -> int:
    """Bytes allocated for files of ``export`` whose inode the store does not hold."""
    total = 0
    for dirpath, _, names in os.walk(export):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in shared:
                total += st.st_blocks * 512
    return total


def used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def run(contender: str, store: Path, export: Path, shared: set[tuple[int, int]]) -> dict[str, Any]:
    import anyio

    from hgloc import Config
    from hgloc.hf_cache import export_models

    config = Config(models_store_path=store, offline=True)
    settle_disk()
    before = used(export.parent)
    started = time.perf_counter()
    report = anyio.run(
        lambda: export_models([MODEL], export, config=config, hard_links=contender == "link")
    )
    seconds = time.perf_counter() - started
    settle_disk()
    assert report.ok, report.failed
    return {
        "seconds": seconds,
        "new_bytes": new_bytes(export, shared),
        "used_delta": used(export.parent) - before,
        "linked": report.models[0].linked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="16 MB, one round")
    args = parser.parse_args()
    size_mb, rounds = (16, 1) if args.smoke else (args.size_mb, args.rounds)
    work = Path(tempfile.mkdtemp(prefix="hgloc-bench-export-"))
    try:
        store = work / "store"
        build_store(store, size_mb << 20)
        shared = inodes(store)
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
        for index in range(rounds):
            order = CONTENDERS if index % 2 == 0 else CONTENDERS[::-1]
            for contender in order:
                export = work / f"export-{contender}-{index}"
                runs[contender].append(run(contender, store, export, shared))
                shutil.rmtree(export)
        mb = 1 << 20
        rows = []
        for contender, got in runs.items():
            secs = [r["seconds"] for r in got]
            rows.append(
                [
                    contender,
                    f"{statistics.median(secs):.3f}",
                    f"{min(secs):.3f}-{max(secs):.3f}",
                    f"{statistics.median(r['new_bytes'] for r in got) / mb:.1f}",
                    f"{statistics.median(r['used_delta'] for r in got) / mb:.1f}",
                    f"{got[0]['linked'] / mb:.0f}",
                ]
            )
        print(f"export of a {size_mb} MB model into the same filesystem, {rounds} round(s)")
        print_table(
            ["how", "median s", "range s", "new MB on disk", "fs used Δ MB", "linked MB"], rows
        )
        append_result(
            "export",
            {"size_mb": size_mb, "rounds": rounds, "smoke": args.smoke, "runs": runs},
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
