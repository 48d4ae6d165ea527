"""Derived sizes, each checked against a hand computation."""

from __future__ import annotations

from hgloc.facts.derived import bytes_at_context, kv_cache_bytes_per_token, model_facts
from hgloc.facts.safetensors_header import TensorCounts

from .models import real_config


def test_llama_in_bfloat16() -> None:
    counts = TensorCounts({"BF16": 6_738_415_616}, 6_738_415_616 * 2)
    facts = model_facts(real_config("llama", torch_dtype="bfloat16"), counts)
    assert facts["parameters"] == 6_738_415_616
    assert facts["parameters.BF16"] == 6_738_415_616
    assert facts["weight_bytes"] == 13_476_831_232
    # 32 layers x 2 (k, v) x 32 kv heads x 128 head dim x 2 bytes
    assert facts["kv_cache_bytes_per_token"] == 32 * 2 * 32 * 128 * 2 == 524_288
    assert bytes_at_context(facts, 4096) == 13_476_831_232 + 4096 * 524_288


def test_mixtral_grouped_query_attention() -> None:
    facts = model_facts(real_config("mixtral", torch_dtype="bfloat16"), None)
    assert facts["kv_cache_bytes_per_token"] == 32 * 2 * 8 * 128 * 2 == 131_072
    assert "weight_bytes" not in facts and bytes_at_context(facts, 10) is None


def test_dtype_from_the_stored_weights_when_the_config_names_none() -> None:
    counts = TensorCounts({"F16": 100, "I64": 3}, 224)
    facts = model_facts(real_config("gpt2"), counts)
    assert facts["dtype"] == "float16"
    assert facts["weight_bytes"] == 100 * 2 + 3 * 8
    assert facts["kv_cache_bytes_per_token"] == 12 * 2 * 12 * 64 * 2


def test_mixed_float_weights_leave_the_dtype_unknown() -> None:
    facts = model_facts(real_config("gpt2"), TensorCounts({"F16": 1, "F32": 1}, 6))
    assert "dtype" not in facts and "kv_cache_bytes_per_token" not in facts


def test_unknowns_stay_absent() -> None:
    assert kv_cache_bytes_per_token({"layers": 2, "kv_heads": 2, "head_dim": 4}) is None
    t5 = model_facts(real_config("t5", torch_dtype="float32"), None)
    assert "kv_cache_bytes_per_token" not in t5  # encoder-decoder: cross-attention not described
    assert dict(model_facts(None, None)) == {}
