"""A model card's YAML front matter, parsed as huggingface_hub parses it."""

from __future__ import annotations

from typing import Any

__all__ = ["card_data"]


def card_data(card: str | None) -> dict[str, Any]:
    """A card's YAML front matter, parsed as huggingface_hub parses it (``{}`` if none)."""
    if not card:
        return {}
    try:
        from huggingface_hub import RepoCard

        parsed = RepoCard(card, ignore_metadata_errors=True).data
        data = parsed.to_dict()  # type: ignore[no-untyped-call]
    except Exception:  # a card is user content: a bad one must not break model info
        return {}
    return data if isinstance(data, dict) else {}

