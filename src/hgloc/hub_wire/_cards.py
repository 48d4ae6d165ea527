"""A model card's YAML front matter, parsed as huggingface_hub parses it, within limits.

A card is user content, and with pull-through an anonymous client chooses
which card the server parses. YAML aliases let 431 bytes expand to gigabytes
(a "billion laughs"), so the loader refuses a header that is too big, nests
too deep or uses more than a few aliases: such a card has no ``cardData``.
"""

from __future__ import annotations

import logging
from typing import Any

import yaml  # type: ignore[import-untyped]  # huggingface_hub depends on PyYAML
from huggingface_hub.repocard import REGEX_YAML_BLOCK

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_HEADER_BYTES", "CardMetadataError", "card_data"]

logger = logging.getLogger("hgloc.hub_wire")

MAX_HEADER_BYTES = 256 << 10  # the biggest model-index headers on the Hub are tens of kB
MAX_DEPTH = 64
MAX_ALIASES = 16  # an alias can double what it points at: 16 keep any expansion small


class CardMetadataError(ValueError):
    """A card's YAML header is past the limits (size, depth, aliases)."""


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]
    """``SafeLoader`` counting aliases and nesting as it composes nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise CardMetadataError(f"more than {MAX_ALIASES} YAML aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise CardMetadataError(f"YAML nested deeper than {MAX_DEPTH}")
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """``text`` as YAML, safely and within the limits (:class:`CardMetadataError` past them).

    >>> load_yaml("a: &x [1, 2]\\nb: *x")
    {'a': [1, 2], 'b': [1, 2]}
    """
    if len(text.encode("utf-8", "replace")) > MAX_HEADER_BYTES:
        raise CardMetadataError(f"a YAML header over {MAX_HEADER_BYTES} bytes")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def card_data(card: str | None) -> dict[str, Any]:
    """A card's YAML front matter as huggingface_hub reads it (``{}`` if none or refused).

    >>> card_data("---\\nlicense: mit\\n---\\n# hi")
    {'license': 'mit'}
    """
    if not card:
        return {}
    match = REGEX_YAML_BLOCK.search(card[: MAX_HEADER_BYTES + 16])
    if match is None:
        return {}
    try:
        from huggingface_hub import CardData

        parsed = load_yaml(match.group(2))
        if not isinstance(parsed, dict):
            return {}
        data = CardData(ignore_metadata_errors=True, **parsed).to_dict()  # type: ignore[no-untyped-call]
    except CardMetadataError as exc:
        logger.warning("card metadata refused: %s", exc)
        return {}
    except Exception:  # a card is user content: a bad one must not break model info
        return {}
    return data if isinstance(data, dict) else {}
