"""A model's ``config.json`` as a few normalized facts, named the same for every family.

Pure: a config dict in, :class:`Facts` out. Each fact is read from the first
key its family uses (``hidden_size``, ``n_embd``, ``d_model``...); a fact no
key gives is left out, never guessed. Multimodal configs also give the facts
of their ``text_config`` / ``vision_config`` (``text_config.hidden_size``...).

>>> facts = normalize_config({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12})
>>> facts["hidden_size"], facts["layers"], facts["kv_heads"]
(768, 12, 12)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import attrs

__all__ = [
    "FACT_FIELDS",
    "SUB_CONFIGS",
    "FactValue",
    "Facts",
    "normalize_config",
]

FactValue: TypeAlias = int | float | str | bool | tuple[str, ...]

# fact -> the config keys families use for it, most specific first
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim", "model_dim", "embed_dim"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "encoder_layers"),
    "decoder_layers": ("num_decoder_layers", "decoder_layers"),
    "attention_heads": (
        "num_attention_heads", "n_head", "num_heads", "n_heads", "encoder_attention_heads",
    ),
    "kv_heads": ("num_key_value_heads", "n_head_kv", "num_kv_heads", "multi_query_group_num"),
    "head_dim": ("head_dim", "d_kv", "kv_channels"),
    "intermediate_size": ("intermediate_size", "n_inner", "d_ff", "ffn_dim", "ffn_hidden_size"),
    "vocab_size": ("vocab_size", "n_vocab", "padded_vocab_size"),
    # the longest sequence the position scheme allows, by the key the family uses
    "context": (
        "max_position_embeddings", "n_positions", "seq_length", "max_seq_len",
        "max_sequence_length", "max_seq_length", "n_ctx", "seq_len",
    ),
    "experts": ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"),
    "experts_per_token": ("num_experts_per_tok", "num_experts_per_token", "moe_top_k"),
}  # fmt: skip

# Every normalized fact, in the order compare shows them.
FACT_FIELDS: tuple[str, ...] = (
    "model_type",
    "architectures",
    "dtype",
    "hidden_size",
    "layers",
    "decoder_layers",
    "attention_heads",
    "kv_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "context",
    "context_key",
    "experts",
    "experts_per_token",
    "is_encoder_decoder",
)

SUB_CONFIGS = ("text_config", "vision_config", "audio_config")

# torch's names for dtypes, as configs write them, mapped to one spelling
_DTYPE_ALIASES = {"float": "float32", "half": "float16", "double": "float64"}


def _count(value: object) -> int | None:
    """A positive integer; JSON floats like ``4096.0`` count, ``True`` does not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def _first_count(config: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, int] | None:
    for key in keys:
        number = _count(config.get(key))
        if number is not None:
            return key, number
    return None


def _dtype(config: Mapping[str, Any]) -> str | None:
    # transformers 5 writes "dtype", older versions "torch_dtype"
    for key in ("dtype", "torch_dtype"):
        value = config.get(key)
        if isinstance(value, str) and value and value != "auto":
            name = value.removeprefix("torch.")
            return _DTYPE_ALIASES.get(name, name)
    return None


def _kv_heads(config: Mapping[str, Any], heads: int | None) -> int | None:
    """Key/value heads: the config's own count, else the family's documented rule."""
    if config.get("model_type") == "falcon":
        # transformers' Falcon: num_kv_heads counts only with the new decoder architecture
        if config.get("new_decoder_architecture"):
            return _count(config.get("num_kv_heads"))
        return 1 if config.get("multi_query") else heads
    found = _first_count(config, _SYNONYMS["kv_heads"])
    if found is not None:
        return found[1]
    if config.get("multi_query") is True:  # gpt_bigcode and friends: one shared head
        return 1
    if "multi_query" in config or any(key in config for key in _SYNONYMS["kv_heads"]):
        return None  # a key is there but unreadable (null): not known
    return heads  # no key at all: plain multi-head attention, as transformers defaults


def _facts_of(config: Mapping[str, Any]) -> dict[str, FactValue]:
    out: dict[str, FactValue] = {}
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type:
        out["model_type"] = model_type
    architectures = config.get("architectures")
    if isinstance(architectures, list) and all(isinstance(a, str) for a in architectures):
        out["architectures"] = tuple(architectures)
    dtype = _dtype(config)
    if dtype is not None:
        out["dtype"] = dtype
    for fact, keys in _SYNONYMS.items():
        if fact in ("kv_heads", "head_dim"):
            continue
        found = _first_count(config, keys)
        if found is not None:
            out[fact] = found[1]
            if fact == "context":
                out["context_key"] = found[0]
    heads = out.get("attention_heads")
    kv = _kv_heads(config, heads if isinstance(heads, int) else None)
    if kv is not None:
        out["kv_heads"] = kv
    head_dim = _first_count(config, _SYNONYMS["head_dim"])
    hidden = out.get("hidden_size")
    if head_dim is not None:
        out["head_dim"] = head_dim[1]
    elif isinstance(hidden, int) and isinstance(heads, int) and hidden % heads == 0:
        out["head_dim"] = hidden // heads
    if isinstance(config.get("is_encoder_decoder"), bool):
        out["is_encoder_decoder"] = config["is_encoder_decoder"]
    return out


@attrs.frozen
class Facts(Mapping[str, FactValue]):
    """Normalized facts of one model: a read-only mapping from field name to value.

    Names are those of :data:`FACT_FIELDS`, plus ``text_config.<fact>`` and
    the like for multimodal configs, plus what the index adds (``parameters``,
    ``parameters.BF16``, ``weight_bytes``...). Absent means unknown.
    """

    data: Mapping[str, FactValue] = attrs.field(factory=dict)

    def __getitem__(self, key: str) -> FactValue:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def merged(self, more: Mapping[str, FactValue]) -> Facts:
        """These facts plus ``more`` (which wins on a clash)."""
        return Facts({**self.data, **more})

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.data.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        return cls({k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def normalize_config(config: Mapping[str, Any]) -> Facts:
    """The normalized facts of a parsed ``config.json``.

    >>> facts = normalize_config({"model_type": "clip", "text_config": {"hidden_size": 512}})
    >>> dict(facts)
    {'model_type': 'clip', 'text_config.hidden_size': 512}
    """
    out = _facts_of(config)
    for sub in SUB_CONFIGS:
        nested = config.get(sub)
        if isinstance(nested, Mapping):
            for key, value in _facts_of(nested).items():
                out[f"{sub}.{key}"] = value
    return Facts(out)
