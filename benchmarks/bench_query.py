"""Querying a big store: `hgloc.facts.api.query` and `hgloc query` over N models.

    python benchmarks/bench_query.py              # N=10,000
    python benchmarks/bench_query.py --smoke      # N=50

The store is laid out as hgloc writes it (model folders with card, config
and metadata; configs of several real families with varied sizes). The
facts index is built once (timed apart: what the first query after an
upgrade pays), then queries run in fresh processes: through the API and the
CLI. Each query still checks every folder's metadata stamp, so the times
include keeping the index current.
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
EXPRESSION = 'model_type == "llama" and hidden_size >= 4096 and context >= 32768'
FAMILIES = ("llama", "mistral", "mixtral", "gpt2", "qwen2", "bert", "t5", "clip", "gemma")


def build_store(root: Path, n: int) -> int:
    """N complete model folders, written directly; returns how many the expression matches."""
    import importlib.resources

    from hgloc.layout import (
        CARD_FILE,
        CONFIG_FILE,
        METADATA_FILE,
        FileRecord,
        ModelRecord,
        local_model_prefix,
    )
    from hgloc.sources import git_blob_sha1

    folder = importlib.resources.files("hgloc_testing").joinpath("data", "configs")
    configs = {f: json.loads(folder.joinpath(f"{f}.json").read_bytes()) for f in FAMILIES}
    card = b"---\nlicense: mit\n---\n# model\n" * 20
    matches = 0
    for i in range(n):
        family = FAMILIES[i % len(FAMILIES)]
        config = dict(configs[family])
        if "max_position_embeddings" in config:
            config["max_position_embeddings"] = 2048 << (i // 9 % 6)  # 2k .. 64k
        if "hidden_size" in config and family != "clip":
            config["hidden_size"] = 1024 * (1 + i % 8)
        matches += (
            family == "llama"
            and config["hidden_size"] >= 4096
            and config["max_position_embeddings"] >= 32768
        )
        data = json.dumps(config).encode()
        model_id = f"org-{i % 97}/model-{i:05d}"
        model_folder = root / local_model_prefix(model_id, None)
        model_folder.mkdir(parents=True)
        (model_folder / CARD_FILE).write_bytes(card)
        (model_folder / CONFIG_FILE).write_bytes(data)
        record = ModelRecord(
            model_id=model_id,
            revision=None,
            commit=f"{i:040x}",
            files={
                CARD_FILE: FileRecord("README.md", len(card), git_blob_sha1(card)),
                CONFIG_FILE: FileRecord(CONFIG_FILE, len(data), git_blob_sha1(data)),
            },
        )
        (model_folder / METADATA_FILE).write_bytes(record.to_bytes())
    return matches


def api_command(store: Path, *, rebuild: bool) -> list[str]:
    call = "rebuild_index(config=config)" if rebuild else f"query({EXPRESSION!r}, config=config)"
    count = "n = result" if rebuild else "n = len(result.matches)"
    return [
        sys.executable,
        "-c",
        "import sys, time, anyio, hgloc\n"
        "from hgloc.facts.api import query, rebuild_index\n"
        f"config = hgloc.Config(models_store_path={str(store)!r})\n"
        "t = time.perf_counter()\n"
        f"result = anyio.run(lambda: {call})\n"
        f"{count}\n"
        "print(n, time.perf_counter() - t, file=sys.stderr)",
    ]


def run_api(argv: list[str], env: dict[str, str]) -> tuple[int, float]:
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    count, seconds = out.stderr.split()[-2:]
    return int(count), float(seconds)


def cli_command(store: Path) -> list[str]:
    # the query command is registered by hgloc.cli once merged; until then, add it here
    script = (
        "import sys\nfrom hgloc.cli import cli\nfrom hgloc.cli import _facts_commands\n"
        "'query' in cli.commands or _facts_commands.register(cli)\n"
        "cli(sys.argv[1:])"
    )
    return [sys.executable, "-c", script, "--store", str(store), "query", EXPRESSION, "--json"]


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
    with tempfile.TemporaryDirectory(prefix="hgloc-query-") as tmp:
        store = Path(tmp) / "store"
        expected = build_store(store, args.n)
        indexed, build_s = run_api(api_command(store, rebuild=True), env)
        assert indexed == args.n, (indexed, args.n)
        in_process = []
        for _ in range(args.repeat):
            count, seconds = run_api(api_command(store, rebuild=False), env)
            assert count == expected, (count, expected)
            in_process.append(seconds)
        api_wall = [timed(api_command(store, rebuild=False), env) for _ in range(args.repeat)]
        cli_wall = [timed(cli_command(store), env) for _ in range(args.repeat)]
    rows = {
        "index_build_s": build_s,
        "api_call_s": statistics.median(in_process),
        "api_process_s": statistics.median(api_wall),
        "cli_process_s": statistics.median(cli_wall),
    }
    print(f"querying {args.n} stored models, {expected} matches (median of {args.repeat})")
    print(f"  {EXPRESSION}")
    print_table(
        ["what", "seconds"],
        [
            ["building the index (once)", f"{rows['index_build_s']:.3f}"],
            ["query() call", f"{rows['api_call_s']:.3f}"],
            ["python process running it", f"{rows['api_process_s']:.3f}"],
            ["hgloc query --json", f"{rows['cli_process_s']:.3f}"],
        ],
    )
    append_result("query", {"n": args.n, "smoke": args.smoke, "matches": expected, **rows})


if __name__ == "__main__":
    main()
