"""Numbers derived from facts: weight bytes, KV-cache bytes per token, bytes for a context.

Pure functions over a facts mapping; each returns ``None`` when an input is unknown.

>>> kv_cache_bytes_per_token({"layers": 32, "kv_heads": 8, "head_dim": 128, "dtype": "bfloat16"})
131072
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hgloc.facts.normalize import Facts, FactValue, normalize_config
from hgloc.facts.safetensors_header import DTYPE_BYTES, TensorCounts

__all__ = [
    "TORCH_DTYPE_BYTES",
    "bytes_at_context",
    "kv_cache_bytes_per_token",
    "model_facts",
    "parameter_facts",
    "storage_dtype",
]

TORCH_DTYPE_BYTES: Mapping[str, int] = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "int8": 1, "uint8": 1,
}  # fmt: skip

# safetensors dtype -> torch's name, for the floating dtypes a model loads in
_FLOAT_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def storage_dtype(counts: TensorCounts) -> str | None:
    """The torch dtype of the stored weights when all floating tensors share one.

    transformers loads weights at their stored dtype when the config names
    none; integer tensors (position ids, quantization tables) do not count.
    """
    floats = {name for name, n in counts.parameters.items() if n and name.startswith(("F", "BF"))}
    if len(floats) == 1:
        return _FLOAT_NAMES.get(floats.pop())
    return None


def parameter_facts(counts: TensorCounts) -> dict[str, FactValue]:
    """``parameters``, ``parameters.<DTYPE>`` and ``weight_bytes`` of safetensors counts."""
    out: dict[str, FactValue] = {"parameters": counts.total}
    for dtype, n in sorted(counts.parameters.items()):
        out[f"parameters.{dtype}"] = n
    weight_bytes = sum(n * DTYPE_BYTES[d] for d, n in counts.parameters.items())
    out["weight_bytes"] = int(weight_bytes)
    return out


def kv_cache_bytes_per_token(facts: Mapping[str, FactValue]) -> int | None:
    """layers x 2 (key and value) x kv heads x head dim x bytes per element.

    Unknown for encoder-decoder models (the cache has cross-attention parts
    these facts do not describe) and when any input is missing.
    """
    if facts.get("is_encoder_decoder") is True:
        return None
    layers, kv_heads, head_dim = (facts.get(k) for k in ("layers", "kv_heads", "head_dim"))
    dtype = facts.get("dtype")
    size = TORCH_DTYPE_BYTES.get(dtype) if isinstance(dtype, str) else None
    if not (isinstance(layers, int) and isinstance(kv_heads, int) and isinstance(head_dim, int)):
        return None
    if size is None:
        return None
    return layers * 2 * kv_heads * head_dim * size


def bytes_at_context(facts: Mapping[str, FactValue], context: int) -> int | None:
    """Weights plus the KV cache of ``context`` tokens, when both are known."""
    weights, per_token = facts.get("weight_bytes"), facts.get("kv_cache_bytes_per_token")
    if not isinstance(weights, int) or not isinstance(per_token, int):
        return None
    return weights + context * per_token


def model_facts(config: Mapping[str, Any] | None, counts: TensorCounts | None) -> Facts:
    """Every stored fact of one model: the config's, the weights' and what follows from both.

    A config that names no dtype takes the stored weights' one, the dtype
    transformers would load them in.
    """
    facts = normalize_config(config) if config is not None else Facts()
    extra: dict[str, FactValue] = {}
    if counts is not None:
        extra.update(parameter_facts(counts))
        if "dtype" not in facts:
            dtype = storage_dtype(counts)
            if dtype is not None:
                extra["dtype"] = dtype
    facts = facts.merged(extra)
    per_token = kv_cache_bytes_per_token(facts)
    if per_token is not None:
        facts = facts.merged({"kv_cache_bytes_per_token": per_token})
    return facts
