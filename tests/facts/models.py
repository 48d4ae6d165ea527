"""Repos for the facts tests: real configs of several families, real safetensors files.

Each number the tests check is computed by hand in the test, from the
shapes written here.
"""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import numpy as np
from safetensors.numpy import save

from hgloc_testing import Repo

LLAMA_FULL = "acme/llama-full"
MIXTRAL_SHARDED = "acme/mixtral-sharded"
GPT2 = "acme/gpt2-small"
T5 = "acme/t5-small"
CLIP = "acme/clip-base"
FALCON = "acme/falcon-7b"
NO_WEIGHTS = "acme/pytorch-only"

# a __metadata__ entry long enough to push one shard's header past the first range
LONG_NOTE = "x" * 70_000


def real_config(family: str, **changes: Any) -> dict[str, Any]:
    folder = importlib.resources.files("hgloc_testing").joinpath("data", "configs")
    config: dict[str, Any] = json.loads(folder.joinpath(f"{family}.json").read_bytes())
    config.update(changes)
    return config


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=2).encode()


def llama_weights() -> bytes:
    """F16: 4x8 + 16 = 48 elements; F32: 8 elements."""
    return save(
        {
            "model.embed_tokens.weight": np.ones((4, 8), dtype=np.float16),
            "model.norm.weight": np.ones((16,), dtype=np.float16),
            "lm_head.bias": np.zeros((8,), dtype=np.float32),
        },
        metadata={"format": "pt"},
    )


def mixtral_shards() -> dict[str, bytes]:
    """Shard 1: BF16-free F32 [64, 1024] + I64 [3]; shard 2: F32 [512, 512], long header."""
    one = save(
        {
            "model.embed_tokens.weight": np.zeros((64, 1024), dtype=np.float32),
            "model.position_ids": np.arange(3, dtype=np.int64),
        },
        metadata={"format": "pt"},
    )
    two = save(
        {"lm_head.weight": np.zeros((512, 512), dtype=np.float32)},
        metadata={"format": "pt", "note": LONG_NOTE},
    )
    return {"model-00001-of-00002.safetensors": one, "model-00002-of-00002.safetensors": two}


def repos() -> list[Repo]:
    shards = mixtral_shards()
    index = {
        "metadata": {"total_size": 0},
        "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "model.position_ids": "model-00001-of-00002.safetensors",
            "lm_head.weight": "model-00002-of-00002.safetensors",
        },
    }
    card = b"---\nlicense: mit\n---\n# test model\n"
    return [
        Repo(
            LLAMA_FULL,
            [{"README.md": card,
              "config.json": _json(real_config("llama", torch_dtype="float16")),
              "model.safetensors": llama_weights()}],
        ),
        Repo(
            MIXTRAL_SHARDED,
            [{"README.md": card,
              "config.json": _json(real_config("mixtral", dtype="bfloat16")),
              "model.safetensors.index.json": _json(index),
              **shards}],
        ),
        Repo(GPT2, [{"README.md": card, "config.json": _json(real_config("gpt2"))}]),
        Repo(T5, [{"README.md": card, "config.json": _json(real_config("t5"))}]),
        Repo(CLIP, [{"README.md": card, "config.json": _json(real_config("clip"))}]),
        Repo(FALCON, [{"README.md": card,
                       "config.json": _json(real_config("falcon", torch_dtype="bfloat16"))}]),
        Repo(NO_WEIGHTS, [{"README.md": card, "config.json": _json(real_config("bert")),
                           "pytorch_model.bin": b"\0" * 64}]),
    ]  # fmt: skip
