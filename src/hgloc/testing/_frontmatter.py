"""A tiny reader for model-card front matter, enough for the Hub's ``cardData``.

It understands top-level ``key: scalar``, ``key: [a, b]`` and block lists
(``key:`` then ``- item`` lines). Nested mappings (``model-index``...) are skipped:
the emulator must not depend on a YAML library, and the Hub's ``cardData`` is only
informative for clients.
"""

from __future__ import annotations

import re

__all__ = ["parse_front_matter"]

_INT = re.compile(r"-?\d+")
# "- name: x" starts a mapping, "- arxiv:1810.04805" does not.
_MAPPING_ITEM = re.compile(r"[^'\"][^:]*:(\s|$)")
_Scalar = str | int | bool | None


def _scalar(text: str) -> _Scalar:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~", ""):
        return None
    if _INT.fullmatch(text):
        return int(text)
    return text


def parse_front_matter(text: str) -> dict[str, object]:
    """The front matter of a card as a dict; empty when there is none."""
    if not text.startswith("---"):
        return {}
    lines = text.splitlines()
    if lines[0].rstrip() != "---":
        return {}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
    except StopIteration:
        return {}
    out: dict[str, object] = {}
    open_key: str | None = None  # key whose value continues on the following lines
    nested: set[str] = set()
    blocks: set[str] = set()
    for line in lines[1:end]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t-":
            if open_key is None:
                continue
            item = re.match(r"\s*-\s+(.*)", line)
            value = out.get(open_key)
            if item and isinstance(value, list) and not _MAPPING_ITEM.match(item.group(1)):
                value.append(_scalar(item.group(1)))
            else:
                nested.add(open_key)
            continue
        key, sep, rest = line.partition(":")
        if not sep:
            open_key = None
            continue
        key, rest = key.strip(), rest.strip()
        if rest == "":
            out[key] = []
            blocks.add(key)
            open_key = key
        elif rest.startswith("[") and rest.endswith("]"):
            inner = rest[1:-1].strip()
            out[key] = [_scalar(v) for v in inner.split(",")] if inner else []
            open_key = None
        else:
            out[key] = _scalar(rest)
            open_key = None
    for key in nested:
        out.pop(key, None)
    # "key:" followed by nothing is null in YAML, not an empty list.
    return {k: (None if v == [] and k in blocks else v) for k, v in out.items()}
