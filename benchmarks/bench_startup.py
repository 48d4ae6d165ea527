"""Startup: `hgloc --help` against `hf --help` (huggingface_hub's CLI), same run.

python benchmarks/bench_startup.py            # 10 runs each, alternating
python benchmarks/bench_startup.py --smoke    # 1 run each
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import append_result, print_table, timed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    runs = 1 if args.smoke else args.runs
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    hf = shutil.which("hf", path=str(Path(sys.executable).parent)) or shutil.which("hf")
    contenders = {"hgloc --help": [sys.executable, "-m", "hgloc", "--help"]}
    if hf:
        contenders["hf --help"] = [hf, "--help"]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, argv in contenders.items():  # alternate, so drift hits both alike
            times[name].append(timed(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print_table(["command", "median s"], [[n, f"{m:.3f}"] for n, m in medians.items()])
    ratio = medians["hf --help"] / medians["hgloc --help"] if "hf --help" in medians else None
    if ratio:
        print(f"hf --help takes {ratio:.1f}x as long as hgloc --help")
    append_result(
        "startup", {"runs": runs, "smoke": args.smoke, "medians": medians, "hf_over_hgloc": ratio}
    )


if __name__ == "__main__":
    main()
