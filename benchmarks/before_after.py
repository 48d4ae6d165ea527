"""Run one benchmark in two source trees, alternating, and compare their summaries.

    git worktree add --detach /tmp/before <old commit>
    python benchmarks/before_after.py --before /tmp/before --rounds 3 \\
        bench_prefetch.py --contenders floor,hgloc,hgloc_warm

Each round runs the script from the old tree, then from this one (each with its
own ``src`` and, where it has one, ``testing/src`` on ``PYTHONPATH``), so a noisy
spell of a shared machine hurts both alike. Every number of the last line each
run appends to its tree's ``benchmarks/results.jsonl`` is printed per round,
with the median per tree and the after/before ratio of medians. One JSON line
with all of it is appended to this tree's results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AFTER = HERE.parent
sys.path.insert(0, str(HERE))

from _common import append_result


def _flatten(value: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: float(value)}
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def run_once(tree: Path, script: str, args: list[str]) -> dict[str, float]:
    """Run ``script`` from ``tree``; return the numbers of the summary it appended."""
    results = tree / "benchmarks" / "results.jsonl"
    before = results.stat().st_size if results.exists() else 0
    paths = [str(tree / "src")]
    if (tree / "testing" / "src").is_dir():
        paths.append(str(tree / "testing" / "src"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    subprocess.run(
        [sys.executable, str(tree / "benchmarks" / script), *args],
        cwd=tree,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with results.open("rb") as handle:
        handle.seek(before)
        lines = [line for line in handle.read().splitlines() if line.strip()]
    record = json.loads(lines[-1])
    record.pop("machine", None)  # the same machine for both
    return _flatten(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the old source tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("script", help="a script in benchmarks/, e.g. bench_prefetch.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    options = parser.parse_args()
    trees = {"before": options.before.resolve(), "after": AFTER}
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for round_ in range(options.rounds):
        for name, tree in trees.items():
            runs[name].append(run_once(tree, options.script, options.args))
            print(f"round {round_ + 1}/{options.rounds}: {name} done", file=sys.stderr)
    keys = sorted(set(runs["before"][0]) & set(runs["after"][0]))
    table: dict[str, dict[str, Any]] = {}
    print(f"{'metric':<45} {'before (each run)':<30} {'after (each run)':<30} after/before")
    for key in keys:
        old = [r[key] for r in runs["before"] if key in r]
        new = [r[key] for r in runs["after"] if key in r]
        old_median, new_median = statistics.median(old), statistics.median(new)
        ratio = new_median / old_median if old_median else float("nan")
        table[key] = {"before": old, "after": new, "ratio_of_medians": ratio}
        shown_old = ", ".join(f"{v:.3g}" for v in old)
        shown_new = ", ".join(f"{v:.3g}" for v in new)
        print(f"{key:<45} {shown_old:<30} {shown_new:<30} {ratio:.2f}")
    append_result(
        "before_after",
        {
            "script": options.script,
            "args": options.args,
            "before": str(trees["before"]),
            "rounds": options.rounds,
            "metrics": table,
        },
    )


if __name__ == "__main__":
    main()
