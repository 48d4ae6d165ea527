"""The Hub side of the core: the client, made on first use, and a model's card and config."""

from __future__ import annotations

import json
from typing import Any

from hgloc._aio import gather
from hgloc._version import __version__
from hgloc.config import Config
from hgloc.errors import EntryNotFoundError, HubError
from hgloc.layout import CARD_REPO_PATH, CONFIG_FILE
from hgloc.sources import HubFile, HuggingFaceSource, RetryPolicy

__all__ = ["DEFAULT_BRANCH", "HubClient", "fetch_metadata", "parse_config"]

DEFAULT_BRANCH = "main"


class HubClient:
    """Holds the Hub adapter (one connection pool, one rate-limit pacer) once it is needed.

    The adapter is created on first use: no token lookup before a request needs one.
    """

    def __init__(self, config: Config, *, concurrency: int, retry: RetryPolicy) -> None:
        self.config = config
        self.concurrency = concurrency
        self.retry = retry
        self._source: HuggingFaceSource | None = None

    @property
    def source(self) -> HuggingFaceSource:
        if self._source is None:
            offline = self.config.is_offline
            self._source = HuggingFaceSource(
                endpoint=self.config.endpoint,
                token=None if offline else self.config.token(),
                offline=offline,
                concurrency=self.concurrency,
                timeout=self.config.request_timeout,
                retry=self.retry,
                user_agent=f"hgloc/{__version__}",
            )
        return self._source

    async def aclose(self) -> None:
        if self._source is not None:
            await self._source.aclose()
            self._source = None

    async def card(self, model_id: str, revision: str | None) -> str:
        """The model card straight from the Hub."""
        hub_file = await self.source.fetch(model_id, revision or DEFAULT_BRANCH, CARD_REPO_PATH)
        return hub_file.data.decode("utf-8", errors="replace")

    async def config_json(self, model_id: str, revision: str | None) -> dict[str, Any]:
        """``config.json`` straight from the Hub, parsed."""
        hub_file = await self.source.fetch(model_id, revision or DEFAULT_BRANCH, CONFIG_FILE)
        return parse_config(hub_file.data, model_id)


async def fetch_metadata(
    source: HuggingFaceSource, model_id: str, revision: str
) -> tuple[HubFile | None, HubFile | None]:
    """The card and the config, both at one commit; either may be missing, not both."""
    card, config = await gather(
        lambda: _fetch_optional(source, model_id, revision, CARD_REPO_PATH),
        lambda: _fetch_optional(source, model_id, revision, CONFIG_FILE),
    )
    if card and config and card.commit and config.commit and card.commit != config.commit:
        # The branch moved between the two requests: take both at the card's commit.
        config = await _fetch_optional(source, model_id, card.commit, CONFIG_FILE)
    if card is None and config is None:
        raise HubError(
            f"{model_id!r} at {revision!r} has neither README.md nor config.json; "
            "there is nothing to localize (check the id and revision)"
        )
    if config is not None:
        parse_config(config.data, model_id)  # never store a config nobody can read
    return card, config


async def _fetch_optional(
    source: HuggingFaceSource, model_id: str, revision: str, path: str
) -> HubFile | None:
    try:
        return await source.fetch(model_id, revision, path)
    except EntryNotFoundError:
        return None


def parse_config(data: bytes, model_id: str) -> dict[str, Any]:
    """A ``config.json``'s bytes as a dict, or a :class:`HubError` saying what is wrong."""
    try:
        parsed = json.loads(data)  # accepts NaN/Infinity, as transformers writes them
    except (ValueError, RecursionError) as exc:  # RecursionError: '[[[[...' nested too deep
        raise HubError(f"config.json of {model_id!r} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise HubError(f"config.json of {model_id!r} is not a JSON object")
    return parsed
