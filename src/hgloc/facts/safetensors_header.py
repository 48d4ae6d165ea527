"""Parameter counts from safetensors headers, without the tensors.

A safetensors file starts with an 8-byte little-endian header length, then
that many bytes of JSON: ``{"name": {"dtype": "BF16", "shape": [4096, 4096],
"data_offsets": [a, b]}, ..., "__metadata__": {...}}``. Pure functions: bytes in,
counts out.

>>> import json, struct
>>> header = json.dumps({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}})
>>> raw = struct.pack("<Q", len(header)) + header.encode()
>>> parse_header(raw[8:]).parameters
{'BF16': 6}
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from hgloc.errors import HeaderError

__all__ = [
    "DTYPE_BYTES",
    "INDEX_FILE",
    "LENGTH_PREFIX",
    "MAX_HEADER_BYTES",
    "SINGLE_FILE",
    "HeaderError",
    "TensorCounts",
    "header_length",
    "parse_header",
    "shard_names",
    "sum_counts",
    "weight_files",
]

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

LENGTH_PREFIX = 8
# The format's own reference implementation refuses headers over 100 MB.
MAX_HEADER_BYTES = 100_000_000

# Bits per element of every dtype safetensors defines (sub-byte floats included).
_DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "C64": 64,
}  # fmt: skip
DTYPE_BYTES: Mapping[str, float] = {name: bits / 8 for name, bits in _DTYPE_BITS.items()}


@attrs.frozen
class TensorCounts:
    """Elements per dtype of one file (or several) and the bytes their data takes."""

    parameters: Mapping[str, int] = attrs.field(factory=dict)
    data_bytes: int = 0

    @property
    def total(self) -> int:
        return sum(self.parameters.values())

    def to_json(self) -> dict[str, Any]:
        return {"parameters": dict(sorted(self.parameters.items())), "data_bytes": self.data_bytes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TensorCounts:
        params = data.get("parameters")
        size = data.get("data_bytes")
        if not isinstance(params, Mapping) or not isinstance(size, int) or size < 0:
            raise HeaderError("stored tensor counts are damaged")
        if not all(isinstance(k, str) and _is_count(v) for k, v in params.items()):
            raise HeaderError("stored tensor counts are damaged")
        return cls(dict(params), size)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def header_length(prefix: bytes) -> int:
    """The JSON header's length from a file's first 8 bytes; refuses absurd sizes.

    >>> header_length(b"\\x10" + bytes(7))
    16
    """
    if len(prefix) < LENGTH_PREFIX:
        raise HeaderError(f"a safetensors file starts with 8 bytes, got {len(prefix)}")
    (length,) = struct.unpack("<Q", prefix[:LENGTH_PREFIX])
    if length < 2 or length > MAX_HEADER_BYTES:
        raise HeaderError(
            f"safetensors header length {length} is out of range (2 to {MAX_HEADER_BYTES} bytes)"
        )
    return int(length)


def parse_header(header: bytes) -> TensorCounts:
    """Count the elements of every tensor of a header (the JSON after the length prefix)."""
    if len(header) > MAX_HEADER_BYTES:
        raise HeaderError(f"safetensors header of {len(header)} bytes is too large")
    try:
        data = json.loads(header)
    except (ValueError, RecursionError) as exc:
        raise HeaderError(f"safetensors header is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HeaderError("safetensors header is not a JSON object")
    counts: dict[str, int] = {}
    data_bytes = 0
    for name, entry in data.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise HeaderError(f"tensor {name!r}: entry is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise HeaderError(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise HeaderError(f"tensor {name!r}: shape {shape!r} is not a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_count(o) for o in offsets)
            or offsets[1] < offsets[0]
        ):
            raise HeaderError(f"tensor {name!r}: data_offsets {offsets!r} are invalid")
        counts[dtype] = counts.get(dtype, 0) + math.prod(shape)
        data_bytes += offsets[1] - offsets[0]
    return TensorCounts(counts, data_bytes)


def sum_counts(files: Iterable[TensorCounts]) -> TensorCounts:
    """The counts of several files (the shards of one model) added up."""
    counts: dict[str, int] = {}
    data_bytes = 0
    for one in files:
        for dtype, n in one.parameters.items():
            counts[dtype] = counts.get(dtype, 0) + n
        data_bytes += one.data_bytes
    return TensorCounts(counts, data_bytes)


def shard_names(index: bytes) -> list[str]:
    """The files a ``model.safetensors.index.json`` spreads the weights over, sorted."""
    try:
        data = json.loads(index)
    except (ValueError, RecursionError) as exc:
        raise HeaderError(f"{INDEX_FILE} is not valid JSON: {exc}") from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise HeaderError(f"{INDEX_FILE} has no weight_map of tensor -> file")
    names = sorted(set(weight_map.values()))
    for name in names:
        if "/" in name or name in ("", ".", "..") or not name.endswith(".safetensors"):
            raise HeaderError(f"{INDEX_FILE} names an unexpected file {name!r}")
    return names


def weight_files(files: Iterable[str]) -> str | None:
    """Which file says where a model's weights are: the shard index, else the single file.

    Other ``.safetensors`` files (adapters, exports in sub-folders) are not the
    model's weights; without either name the count is unknown.

    >>> weight_files(["config.json", "model.safetensors"])
    'model.safetensors'
    """
    names = set(files)
    for name in (INDEX_FILE, SINGLE_FILE):
        if name in names:
            return name
    return None
