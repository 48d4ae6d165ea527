"""Normalized facts of real transformers configs, family by family."""

from __future__ import annotations

import pytest

from hgloc.facts.normalize import Facts, normalize_config

from .models import real_config


def test_llama() -> None:
    facts = normalize_config(real_config("llama", torch_dtype="bfloat16"))
    assert dict(facts) == {
        "model_type": "llama",
        "architectures": ("LlamaForCausalLM",),
        "dtype": "bfloat16",
        "hidden_size": 4096,
        "layers": 32,
        "attention_heads": 32,
        "kv_heads": 32,
        "head_dim": 128,
        "intermediate_size": 11008,
        "vocab_size": 32000,
        "context": 2048,
        "context_key": "max_position_embeddings",
    }


def test_mixtral_is_moe_with_grouped_kv_heads() -> None:
    facts = normalize_config(real_config("mixtral"))
    assert (facts["experts"], facts["experts_per_token"]) == (8, 2)
    assert (facts["kv_heads"], facts["attention_heads"]) == (8, 32)
    # head_dim is null in the config: hidden / heads, as transformers computes it
    assert facts["head_dim"] == 4096 // 32
    assert facts["context"] == 131072


def test_gpt2_uses_its_own_key_names() -> None:
    facts = normalize_config(real_config("gpt2"))
    assert (facts["hidden_size"], facts["layers"], facts["attention_heads"]) == (768, 12, 12)
    assert (facts["context"], facts["context_key"]) == (1024, "n_positions")
    assert "intermediate_size" not in facts  # n_inner is null: unknown, not 4 x hidden
    assert "dtype" not in facts


def test_t5_has_no_context_length() -> None:
    facts = normalize_config(real_config("t5"))
    assert (facts["hidden_size"], facts["head_dim"], facts["intermediate_size"]) == (512, 64, 2048)
    assert (facts["layers"], facts["decoder_layers"]) == (6, 6)
    assert facts["is_encoder_decoder"] is True
    assert "context" not in facts  # relative positions: no maximum in the config


def test_clip_sub_configs_keep_dotted_names() -> None:
    facts = normalize_config(real_config("clip"))
    assert facts["model_type"] == "clip"
    assert "hidden_size" not in facts
    assert facts["text_config.hidden_size"] == 512
    assert facts["text_config.context"] == 77
    assert facts["text_config.vocab_size"] == 49408
    assert facts["vision_config.hidden_size"] == 768
    assert facts["vision_config.layers"] == 12
    assert facts["vision_config.head_dim"] == 64


def test_falcon_multi_query_has_one_kv_head() -> None:
    # num_kv_heads (71) counts only with new_decoder_architecture, as in transformers
    facts = normalize_config(real_config("falcon"))
    assert (facts["attention_heads"], facts["kv_heads"], facts["head_dim"]) == (71, 1, 64)
    facts = normalize_config(real_config("falcon", new_decoder_architecture=True, num_kv_heads=8))
    assert facts["kv_heads"] == 8


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"torch_dtype": "torch.float16"}, "float16"),
        ({"dtype": "bfloat16", "torch_dtype": "float32"}, "bfloat16"),
        ({"torch_dtype": "auto"}, None),
        ({"torch_dtype": 3}, None),
    ],
)
def test_dtype(config: dict[str, object], expected: str | None) -> None:
    assert normalize_config(config).get("dtype") == expected


def test_junk_values_are_absent_not_guessed() -> None:
    facts = normalize_config(
        {"hidden_size": "4096", "num_hidden_layers": True, "num_attention_heads": -1,
         "vocab_size": 3.5, "max_position_embeddings": 4096.0, "num_key_value_heads": None}
    )  # fmt: skip
    assert dict(facts) == {"context": 4096, "context_key": "max_position_embeddings"}


def test_facts_round_trip_through_json() -> None:
    facts = normalize_config(real_config("mixtral"))
    assert Facts.from_json(facts.to_json()) == facts
