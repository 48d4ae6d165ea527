"""Stock huggingface_hub and transformers on an exported cache, offline, in a fresh process.

Run with ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE`` set to the export. Prints one
JSON line: each check's result (or its error class and message) and every
connection the process tried to open (there must be none).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

attempts: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.getaddrinfo"):
        attempts.append(f"{event} {args[1] if event == 'socket.connect' else args[0]!r}")


sys.addaudithook(_audit)

from huggingface_hub import get_cached_repo_tree, hf_hub_download, snapshot_download  # noqa: E402
from transformers import AutoConfig, AutoModel, AutoTokenizer  # noqa: E402

TINY = "hgloc-test/tiny-bert"
CARDS = "hgloc-test/cards"
out: dict[str, Any] = {}


def check(name: str, fn: Callable[[], Any]) -> None:
    try:
        out[name] = {"ok": fn()}
    except Exception as exc:  # each check reports its own failure
        out[name] = {"error": type(exc).__name__, "message": str(exc)[:500]}
        if os.environ.get("CHECKS_DEBUG"):
            traceback.print_exc()


def tiny_model() -> list[int]:
    model = AutoModel.from_pretrained(TINY)
    tokenizer = AutoTokenizer.from_pretrained(TINY)
    batch = tokenizer("hello world", return_tensors="pt")
    return list(model(**batch).last_hidden_state.shape)


def files_of(folder: str) -> list[str]:
    found = (os.path.join(d, n) for d, _, names in os.walk(folder) for n in names)
    return sorted(os.path.relpath(path, folder) for path in found)


def read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


check("tiny_config", lambda: AutoConfig.from_pretrained(TINY).hidden_size)
check("tiny_tokenizer", lambda: AutoTokenizer.from_pretrained(TINY)("hello world")["input_ids"])
check("tiny_model", tiny_model)
check("tiny_snapshot", lambda: files_of(snapshot_download(TINY)))
check("tiny_nested", lambda: read(hf_hub_download(TINY, "extras/deep/data.json")))
check("tiny_tree", lambda: sorted(f.path for f in get_cached_repo_tree(TINY)))
check("cards_config", lambda: AutoConfig.from_pretrained(CARDS).hidden_size)
check("cards_tag_config", lambda: AutoConfig.from_pretrained(CARDS, revision="v1.0").hidden_size)
check("cards_model", lambda: type(AutoModel.from_pretrained(CARDS)).__name__)
check("cards_snapshot", lambda: files_of(snapshot_download(CARDS)))
check("cards_weights", lambda: hf_hub_download(CARDS, "weights.bin"))
print(json.dumps({"checks": out, "network": attempts}))
