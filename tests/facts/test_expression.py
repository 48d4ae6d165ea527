"""The query language: what it matches (run on sqlite), and where it points when malformed."""

from __future__ import annotations

import pytest

from hgloc.errors import HglocError
from hgloc.facts.derived import model_facts
from hgloc.facts.expression import ExpressionError, compile_expression, compile_sort
from hgloc.facts.index import FactsIndex, IndexRow
from hgloc.facts.normalize import Facts
from hgloc.facts.safetensors_header import TensorCounts

from .models import real_config

ROWS = {
    "org/llama": model_facts(
        real_config("llama", torch_dtype="bfloat16", max_position_embeddings=32768),
        TensorCounts({"BF16": 6_700_000_000}, 13_400_000_000),
    ),
    "org/mixtral": model_facts(real_config("mixtral", torch_dtype="bfloat16"), None),
    "org/gpt2": model_facts(real_config("gpt2"), TensorCounts({"F32": 124_000_000}, 496_000_000)),
    "org/t5": model_facts(real_config("t5"), None),
    "org/clip": model_facts(real_config("clip"), None),
    "other/qwen-moe": model_facts(
        {"model_type": "qwen2_moe", "architectures": ["Qwen2MoEForCausalLM"], "num_experts": 60},
        None,
    ),
}


@pytest.fixture
async def index() -> FactsIndex:
    index = FactsIndex(None)
    await index.apply(
        IndexRow(f"{mid.replace('/', '_')}/main", "", mid, None, "c" * 40, "1:1", facts)
        for mid, facts in ROWS.items()
    )
    return index


async def matching(index: FactsIndex, expression: str, sort: str | None = None) -> list[str]:
    compiled = compile_expression(expression)
    rows = await index.select([""], compiled, sort=compile_sort(sort) if sort else None)
    return [r.model_id for r in rows]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('model_type == "llama" and hidden_size >= 4096 and context >= 32768', ["org/llama"]),
        ("parameters < 3e9", ["org/gpt2"]),
        ('"MoE" in architectures', ["other/qwen-moe"]),
        ('"CausalLM" in architectures and experts', ["org/mixtral", "other/qwen-moe"]),
        ('model_type in ["t5", "gpt2"]', ["org/gpt2", "org/t5"]),
        ('model_type not in ("t5", "gpt2", "clip") and hidden_size', ["org/llama", "org/mixtral"]),
        ("text_config.hidden_size == 512 and vision_config.layers > 6", ["org/clip"]),
        ("context is None", ["org/clip", "org/t5", "other/qwen-moe"]),
        ("experts is not None and experts_per_token >= 2", ["org/mixtral"]),
        # absent facts: neither the comparison nor its negation matches
        ("not (context > 2048)", ["org/gpt2"]),
        ("kv_heads < attention_heads", ["org/mixtral"]),
        ("1024 <= context < 32768", ["org/gpt2"]),
        ('model_id.startswith("org/") and model_id.endswith("a")', ["org/llama"]),
        (
            'glob(model_id, "*/*-moe") or matches(model_type, "^t[0-9]$")',
            ["org/t5", "other/qwen-moe"],
        ),
        ("is_encoder_decoder == true", ["org/t5"]),
        ('"llama" in model_id', ["org/llama"]),
        ('model_type > 5 or hidden_size > "a"', []),  # kinds do not mix
        ("weight_bytes > 1e9 or parameters.F32 > 0", ["org/gpt2", "org/llama"]),
        ("-1 < layers and layers < +7", ["org/t5"]),
    ],
)
async def test_matches(index: FactsIndex, expression: str, expected: list[str]) -> None:
    assert await matching(index, expression) == expected


@pytest.mark.anyio
async def test_sort_puts_absent_last(index: FactsIndex) -> None:
    found = await matching(index, "model_id is not None", sort="-context")
    assert found[:3] == ["org/mixtral", "org/llama", "org/gpt2"]
    assert sorted(found[3:]) == ["org/clip", "org/t5", "other/qwen-moe"]
    assert (await matching(index, "hidden_size", sort="hidden_size"))[0] == "org/t5"


def test_fields_used_in_order() -> None:
    compiled = compile_expression('context > 1 and model_type == "x" or context < 0')
    assert compiled.fields == ("context", "model_type")


def test_values_are_parameters_not_sql() -> None:
    compiled = compile_expression('model_type == "\'; DROP TABLE models; --"')
    assert "DROP" not in compiled.where
    assert list(compiled.params.values()) == ["'; DROP TABLE models; --"]


@pytest.mark.parametrize(
    ("expression", "message", "caret"),
    [
        ("hiden_size > 3", "unknown field 'hiden_size'; did you mean 'hidden_size'", "^^^^^^^^^^"),
        ('model_type = "llama"', "compare with '=='", "           ^"),
        ("layers > 2 and", "ends too early", "              ^"),
        ('__import__("os").system("x")', "functions are", "^" * len('__import__("os").system')),
        ("layers + 1 > 2", "arithmetic is not allowed in a comparison", "^^^^^^^^^^"),
        ('architectures == "X"', "architectures is a list", "^^^^^^^^^^^^^"),
        ("context == None", "is None", "^^^^^^^^^^^^^^^"),
        ("layers > 2 and x[0]", "indexing", "               ^^^^"),
        ("lambda: 1", "lambda", "^^^^^^^^^"),
        ("3 > 2", "compare a field", "^^^^^"),
        ('matches(model_id, "(")', "not a regular expression", "                  ^^^"),
        ("", "empty", "^"),
        ("   layers >>> 2", "syntax error", "            ^"),
        ('"a" in 3', "expected a field", "       ^"),
        ("(layers := 3)", "NamedExpr", " ^^^^^^^^^^^"),
    ],
)
def test_errors_point_at_the_fault(expression: str, message: str, caret: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(expression)
    error = info.value
    assert message in str(error)
    assert error.caret.splitlines()[-1] == caret, error.caret
    assert isinstance(error, ValueError) and isinstance(error, HglocError)


def test_unicode_columns_count_characters() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression('model_type == "ñ" and hiden > 1')
    assert info.value.position == len('model_type == "ñ" and ')


def test_sort_errors() -> None:
    with pytest.raises(ExpressionError, match="did you mean 'layers'"):
        compile_sort("-layer")


def test_facts_type_is_a_mapping() -> None:
    assert dict(Facts({"a": 1})) == {"a": 1}
