"""The stored form of tensor counts fetched for a metadata-only model, tied to its commit.

>>> from hgloc.facts.safetensors_header import TensorCounts
>>> raw = sidecar_bytes("abc", {"model.safetensors": TensorCounts({"F32": 6}, 24)})
>>> sidecar_counts(raw, "abc")
(True, TensorCounts(parameters={'F32': 6}, data_bytes=24))
>>> sidecar_counts(raw, "def")[0]  # another commit: fetch again
False
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hgloc.facts.safetensors_header import HeaderError, TensorCounts, sum_counts

__all__ = ["SIDECAR_FORMAT", "sidecar_bytes", "sidecar_counts"]

SIDECAR_FORMAT = 1


def sidecar_bytes(commit: str | None, files: Mapping[str, TensorCounts]) -> bytes:
    """JSON of the counts per weight file (``{}``: the model has no safetensors weights)."""
    data = {
        "format": SIDECAR_FORMAT,
        "commit": commit,
        "source": "hub-headers",
        "files": {name: counts.to_json() for name, counts in sorted(files.items())},
    }
    return json.dumps(data, indent=2).encode()


def sidecar_counts(data: bytes, commit: str | None) -> tuple[bool, TensorCounts | None]:
    """``(usable, counts)``; unusable when damaged or written for another commit.

    ``(True, None)``: the Hub was asked and the model has no safetensors weights.
    """
    try:
        parsed: Any = json.loads(data)
        if parsed.get("format") != SIDECAR_FORMAT or parsed.get("commit") != commit:
            return False, None
        files = parsed["files"]
        if not files:
            return True, None
        return True, sum_counts(TensorCounts.from_json(v) for v in files.values())
    except (ValueError, TypeError, KeyError, AttributeError, HeaderError):
        return False, None
