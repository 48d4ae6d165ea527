"""Stock huggingface_hub and transformers against ``hgloc serve``, in a child process.

``HF_ENDPOINT`` is read when huggingface_hub is imported, hence a process of
its own. argv[1] is JSON: ``{"url": ..., "tiny_dir": ..., "checks": [...]}``.
Prints one JSON line: each check's result, or its error class and message,
plus every connection the process tried to open anywhere but the server.
"""

from __future__ import annotations

import hashlib
import json
import sys
import traceback
from typing import Any
from urllib.parse import urlsplit

args = json.loads(sys.argv[1])
server = urlsplit(args["url"])
elsewhere: list[str] = []


def _audit(event: str, hook_args: tuple[Any, ...]) -> None:
    # Every connect and name lookup: the clients must reach nothing but the server.
    if event == "socket.connect":
        address = hook_args[1]
        if isinstance(address, tuple) and address[:2] != (server.hostname, server.port):
            elsewhere.append(f"connect {address!r}")
    elif event == "socket.getaddrinfo" and hook_args[0] not in (server.hostname, None):
        elsewhere.append(f"lookup {hook_args[0]!r}")


sys.addaudithook(_audit)

from huggingface_hub import (  # noqa: E402 - after the audit hook, on purpose
    ModelCard,
    constants,
    hf_hub_download,
    model_info,
    snapshot_download,
)

TINY = "hgloc-test/tiny-bert"
CARDS = "hgloc-test/cards"


def sha256_of(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def downloads() -> dict[str, Any]:
    out = {}
    for name, repo, path, revision in (
        ("config", TINY, "config.json", None),
        ("weights", TINY, "model.safetensors", None),
        ("nested", TINY, "extras/deep/data.json", None),
        ("card_main", CARDS, "README.md", None),
        ("config_tag", CARDS, "config.json", "v1.0"),
        ("config_commit", CARDS, "config.json", args["cards_v1"]),
        ("legacy", "tinyconf", "config.json", None),
    ):
        out[name] = sha256_of(hf_hub_download(repo, path, revision=revision))
    return out


def snapshot() -> dict[str, Any]:
    folder = snapshot_download(TINY)
    from pathlib import Path

    root = Path(folder)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def info() -> dict[str, Any]:
    full = model_info(TINY, files_metadata=True)
    meta = model_info(CARDS, revision="v1.0")
    return {
        "id": full.id,
        "sha": full.sha,
        "siblings": sorted(
            (s.rfilename, s.size, s.lfs.sha256 if s.lfs else None) for s in full.siblings or []
        ),
        "meta_sha": meta.sha,
        "meta_siblings": sorted(s.rfilename for s in meta.siblings or []),
        "card_data_license": full.card_data.license if full.card_data else None,
    }


def card() -> dict[str, Any]:
    loaded = ModelCard.load(CARDS)
    return {"license": loaded.data.license, "tags": loaded.data.tags, "text": loaded.text}


def errors() -> dict[str, Any]:
    out: dict[str, str | None] = {}
    for name, call in (
        ("repo", lambda: hf_hub_download("nobody/nothing", "config.json")),
        ("revision", lambda: hf_hub_download(CARDS, "config.json", revision="v9")),
        ("entry", lambda: hf_hub_download(CARDS, "weights.bin")),
        ("info_repo", lambda: model_info("nobody/nothing")),
    ):
        try:
            call()
        except Exception as exc:
            out[name] = type(exc).__name__
        else:
            out[name] = None
    return out


def auto_config() -> dict[str, Any]:
    from transformers import AutoConfig

    cards = AutoConfig.from_pretrained(CARDS)
    tagged = AutoConfig.from_pretrained(CARDS, revision="v1.0")
    tiny = AutoConfig.from_pretrained(TINY)
    return {
        "cards": [cards.model_type, cards.hidden_size],
        "tagged": [tagged.model_type, tagged.hidden_size],
        "tiny": [tiny.model_type, tiny.hidden_size, tiny.num_hidden_layers],
    }


def auto_model() -> dict[str, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    served = AutoModel.from_pretrained(TINY)
    local = AutoModel.from_pretrained(args["tiny_dir"], local_files_only=True)
    same = all(
        torch.equal(a, b)
        for a, b in zip(served.state_dict().values(), local.state_dict().values(), strict=True)
    )
    tokenizer = AutoTokenizer.from_pretrained(TINY)
    reference = AutoTokenizer.from_pretrained(args["tiny_dir"], local_files_only=True)
    text = "hello local models"
    ids = tokenizer(text)["input_ids"]
    with torch.no_grad():
        out = served(**tokenizer(text, return_tensors="pt"))
    return {
        "class": type(served).__name__,
        "same_weights": same,
        "ids": ids,
        "reference_ids": reference(text)["input_ids"],
        "hidden": list(out.last_hidden_state.shape),
    }


CHECKS = {
    "downloads": downloads,
    "snapshot": snapshot,
    "info": info,
    "card": card,
    "errors": errors,
    "auto_config": auto_config,
    "auto_model": auto_model,
}

results: dict[str, Any] = {"endpoint": constants.ENDPOINT}
for check in args["checks"]:
    try:
        results[check] = CHECKS[check]()
    except Exception as exc:
        results[check] = {"error": type(exc).__name__, "message": traceback.format_exc()[-2000:]}
results["elsewhere"] = sorted(set(elsewhere))
print(json.dumps(results))
