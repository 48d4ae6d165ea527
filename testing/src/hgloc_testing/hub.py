"""``python -m hgloc_testing.hub``: serve a corpus until killed; prints the URL first.

Binds 127.0.0.1 on a free port and prints exactly one line, ``http://127.0.0.1:PORT``,
then serves ``make_corpus(--corpus, --seed)`` with the special renames and token.
``--big-file-mb N`` (default: ``HGLOC_EMULATOR_BIG_FILE_MB``, so that
``HubEmulator.run_in_subprocess`` can ask for it) also serves ``hgloc-bench/big-file``:
a card, a config and an N MB ``model.safetensors`` of seeded random bytes.
``--cdn-bandwidth B`` (bytes/s) answers in Xet mode with each CDN connection
capped at ``B``, as real CDN edges cap one connection.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import threading
from collections.abc import Sequence

from ._corpus import make_corpus, special_renames, special_tokens
from ._repos import Repo
from ._server import HubEmulator
from ._xet import XetMode

__all__ = ["BIG_FILE_REPO", "big_file_repo", "main"]

BIG_FILE_REPO = "hgloc-bench/big-file"


def big_file_repo(size_mb: int, seed: int = 0) -> Repo:
    """``hgloc-bench/big-file``: a card, a config and a ``size_mb`` MB safetensors blob."""
    rng = random.Random(seed)
    blob = b"".join(rng.randbytes(1 << 20) for _ in range(size_mb))  # randbytes caps at 256 MB
    files = {
        "README.md": b"# big file\n\nOne large LFS file, for download benchmarks.\n",
        "config.json": b'{"model_type": "bert"}\n',
        "model.safetensors": blob,
    }
    repo = Repo(BIG_FILE_REPO, [files])
    repo.entry(0, "model.safetensors")  # hash it now, not during the first timed request
    return repo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hgloc_testing.hub", description=__doc__)
    parser.add_argument("--corpus", type=int, default=100, help="number of repos")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--seed", type=int, default=0, help="corpus and fault seed")
    parser.add_argument("--page-size", type=int, default=1000, help="tree entries per page")
    parser.add_argument("--resolver-quota", type=int, default=100_000, help="/resolve/ per 300 s")
    parser.add_argument("--record-requests", action="store_true", help="keep request records")
    parser.add_argument(
        "--big-file-mb",
        type=int,
        default=int(os.environ.get("HGLOC_EMULATOR_BIG_FILE_MB") or 0),
        help=f"also serve {BIG_FILE_REPO} with a file of this many MB (0: no)",
    )
    parser.add_argument(
        "--cdn-bandwidth",
        type=int,
        default=0,
        help="Xet mode, each CDN connection capped at this many bytes/s (0: Git-LFS Hub, no cap)",
    )
    args = parser.parse_args(argv)

    repos = make_corpus(args.corpus, seed=args.seed)
    if args.big_file_mb > 0:
        repos = [*repos, big_file_repo(args.big_file_mb, args.seed)]
    hub = HubEmulator(
        repos,
        renames=special_renames(),
        tokens=special_tokens(),
        latency=args.latency,
        page_size=args.page_size,
        resolver_quota=args.resolver_quota,
        record_requests=args.record_requests,
        xet=XetMode(bandwidth=args.cdn_bandwidth) if args.cdn_bandwidth > 0 else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with hub.run_in_thread() as url:
        print(url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
