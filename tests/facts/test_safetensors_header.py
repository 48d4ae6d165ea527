"""Parameter counts from safetensors headers written by the safetensors package."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save

from hgloc.facts.safetensors_header import (
    MAX_HEADER_BYTES,
    HeaderError,
    TensorCounts,
    header_length,
    parse_header,
    shard_names,
    sum_counts,
    weight_files,
)


def counts_of(data: bytes) -> TensorCounts:
    return parse_header(data[8 : 8 + header_length(data[:8])])


def test_counts_per_dtype() -> None:
    data = save(
        {
            "a": np.zeros((3, 5), dtype=np.float16),
            "b": np.zeros((7,), dtype=np.float32),
            "c": np.zeros((2, 2, 2), dtype=np.int8),
            "scalar": np.zeros((), dtype=np.float32),
        },
        metadata={"format": "pt"},
    )
    counts = counts_of(data)
    assert counts.parameters == {"F16": 15, "F32": 7 + 1, "I8": 8}
    assert counts.total == 31
    assert counts.data_bytes == 15 * 2 + 8 * 4 + 8 * 1
    assert len(data) == 8 + header_length(data[:8]) + counts.data_bytes


def test_sum_of_shards() -> None:
    one = TensorCounts({"BF16": 10}, 20)
    two = TensorCounts({"BF16": 5, "F32": 1}, 14)
    assert sum_counts([one, two]) == TensorCounts({"BF16": 15, "F32": 1}, 34)


@pytest.mark.parametrize("length", [0, 1, MAX_HEADER_BYTES + 1, 2**63])
def test_absurd_header_lengths_are_refused(length: int) -> None:
    with pytest.raises(HeaderError, match="out of range"):
        header_length(struct.pack("<Q", length))


def test_short_prefix() -> None:
    with pytest.raises(HeaderError, match="8 bytes"):
        header_length(b"\x01\x02")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}', "unknown dtype"),
        (b'{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', "shape"),
        (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}', "data_offsets"),
        (b'{"w": 3}', "not an object"),
    ],
)
def test_damaged_headers(header: bytes, message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        parse_header(header)
    assert issubclass(HeaderError, ValueError)


def test_shard_names_from_an_index() -> None:
    index = {"weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors", "c": "m-1.safetensors"}}
    assert shard_names(json.dumps(index).encode()) == ["m-1.safetensors", "m-2.safetensors"]
    with pytest.raises(HeaderError, match="unexpected file"):
        shard_names(json.dumps({"weight_map": {"a": "../x.safetensors"}}).encode())
    with pytest.raises(HeaderError, match="weight_map"):
        shard_names(b"{}")


def test_weight_files() -> None:
    assert weight_files(["model.safetensors", "model.safetensors.index.json"]) == (
        "model.safetensors.index.json"
    )
    assert weight_files(["adapter_model.safetensors", "pytorch_model.bin"]) is None
