"""Listing a big store: `list_local_models` and `hgloc list-local-models` over N models.

    python benchmarks/bench_list.py              # N=10,000
    python benchmarks/bench_list.py --smoke      # N=50

The store is laid out as hgloc writes it (model folders with card, config
and metadata), then listed in fresh processes: through the API and the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import append_result, print_table, timed

SRC = str(HERE.parent / "src")


def build_store(root: Path, n: int) -> None:
    """N complete model folders, written directly (the benchmark is the listing)."""
    from hgloc.layout import (
        CARD_FILE,
        CONFIG_FILE,
        METADATA_FILE,
        FileRecord,
        ModelRecord,
        local_model_prefix,
    )
    from hgloc.sources import git_blob_sha1

    card = b"---\nlicense: mit\n---\n# model\n" * 20
    config = json.dumps({"model_type": "bert", "hidden_size": 768}).encode()
    for i in range(n):
        model_id = f"org-{i % 97}/model-{i:05d}"
        folder = root / local_model_prefix(model_id, None)
        folder.mkdir(parents=True)
        (folder / CARD_FILE).write_bytes(card)
        (folder / CONFIG_FILE).write_bytes(config)
        record = ModelRecord(
            model_id=model_id,
            revision=None,
            commit=f"{i:040x}",
            files={
                CARD_FILE: FileRecord("README.md", len(card), git_blob_sha1(card)),
                CONFIG_FILE: FileRecord(CONFIG_FILE, len(config), git_blob_sha1(config)),
            },
        )
        (folder / METADATA_FILE).write_bytes(record.to_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.repeat = 50, 1
    env = {**os.environ, "PYTHONPATH": SRC}
    with tempfile.TemporaryDirectory(prefix="hgloc-list-") as tmp:
        store = Path(tmp) / "store"
        build_store(store, args.n)
        api = [
            sys.executable,
            "-c",
            "import sys, time, hgloc; from hgloc.sync import list_local_models\n"
            "t = time.perf_counter()\n"
            f"models = list_local_models(config=hgloc.Config(models_store_path={str(store)!r}))\n"
            "print(len(models), time.perf_counter() - t, file=sys.stderr)",
        ]
        cli = [sys.executable, "-m", "hgloc", "--store", str(store), "list-local-models", "--json"]
        in_process = []
        for _ in range(args.repeat):
            out = subprocess.run(api, env=env, check=True, capture_output=True, text=True)
            count, seconds = out.stderr.split()
            assert int(count) == args.n, out.stderr
            in_process.append(float(seconds))
        api_wall = [timed(api, env) for _ in range(args.repeat)]
        cli_wall = [timed(cli, env) for _ in range(args.repeat)]
    rows = {
        "api_call_s": statistics.median(in_process),
        "api_process_s": statistics.median(api_wall),
        "cli_process_s": statistics.median(cli_wall),
    }
    print(f"listing {args.n} cached models (median of {args.repeat})")
    print_table(
        ["what", "seconds"],
        [
            ["list_local_models() call", f"{rows['api_call_s']:.3f}"],
            ["python process running it", f"{rows['api_process_s']:.3f}"],
            ["hgloc list-local-models --json", f"{rows['cli_process_s']:.3f}"],
        ],
    )
    append_result("list", {"n": args.n, "smoke": args.smoke, **rows})


if __name__ == "__main__":
    main()
