"""The Hub side of the core: the client, made on first use, and a model's card and config."""

from __future__ import annotations

import json
from typing import Any

from hgloc._aio import gather
from hgloc._version import __version__
from hgloc.config import Config
from hgloc.errors import EntryNotFoundError, HubError, ResponseTooLargeError
from hgloc.layout import CARD_REPO_PATH, CONFIG_FILE
from hgloc.sources import HubFile, HuggingFaceSource, MinRate, RetryPolicy

__all__ = ["DEFAULT_BRANCH", "MAX_CONFIG_BYTES", "HubClient", "fetch_metadata", "parse_config"]

DEFAULT_BRANCH = "main"
# Real configs are a few KB (the largest, with big label maps, a few MB); parsing one
# costs ~25x its size in memory (a 60 MB '[{},...]' peaked at 1.6 GB): refused above this.
MAX_CONFIG_BYTES = 16 << 20


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
                min_rate=MinRate(self.config.min_transfer_rate, self.config.transfer_rate_window),
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
        hub_file = await _fetch_config(self.source, model_id, revision or DEFAULT_BRANCH)
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
        if path == CONFIG_FILE:
            return await _fetch_config(source, model_id, revision)
        return await source.fetch(model_id, revision, path)
    except EntryNotFoundError:
        return None


async def _fetch_config(source: HuggingFaceSource, model_id: str, revision: str) -> HubFile:
    """``config.json``, never read past :data:`MAX_CONFIG_BYTES`."""
    try:
        return await source.fetch(model_id, revision, CONFIG_FILE, max_bytes=MAX_CONFIG_BYTES)
    except ResponseTooLargeError as exc:
        raise _too_big(model_id) from exc


def _too_big(model_id: str) -> HubError:
    return HubError(
        f"config.json of {model_id!r} is larger than {MAX_CONFIG_BYTES >> 20} MiB, far more "
        "than any real model config; it was not parsed or stored"
    )


def parse_config(data: bytes, model_id: str) -> dict[str, Any]:
    """A ``config.json``'s bytes as a dict, or a :class:`HubError` saying what is wrong."""
    if len(data) > MAX_CONFIG_BYTES:
        raise _too_big(model_id)
    try:
        parsed = json.loads(data)  # accepts NaN/Infinity, as transformers writes them
    except (ValueError, RecursionError) as exc:  # RecursionError: '[[[[...' nested too deep
        raise HubError(f"config.json of {model_id!r} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise HubError(f"config.json of {model_id!r} is not a JSON object")
    return parsed
