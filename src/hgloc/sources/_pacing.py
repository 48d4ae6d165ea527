"""Pacing to the Hub's rate-limit headers, shared by every request of a localizer."""

from __future__ import annotations

import logging

import anyio

from hgloc.sources._hub_protocol import RateLimit

__all__ = ["RatePacer"]

logger = logging.getLogger("hgloc.sources")


class RatePacer:
    """Spreads what is left of the Hub's budget over what is left of its window.

    While the Hub reports plenty of requests left, requests go out unhindered.
    When ``remaining`` drops to ``low_water`` or below, requests are spaced
    ``reset_seconds / remaining`` apart, so the budget lasts until the window
    resets instead of ending in a wall of 429s. A 429's ``Retry-After`` pauses
    everyone, not just the request that got it.
    """

    def __init__(self, low_water: int = 64) -> None:
        self.low_water = low_water
        self._interval = 0.0
        self._next_slot = 0.0
        self._paused_until = 0.0

    @property
    def interval(self) -> float:
        """Current spacing between requests, in seconds (0 when unhindered)."""
        return self._interval

    def observe(self, limit: RateLimit | None, now: float | None = None) -> None:
        """Take in the budget an answer reported."""
        if limit is None:
            return
        now = anyio.current_time() if now is None else now
        if limit.remaining <= 0:
            self.pause(limit.reset_seconds, now)
            self._interval = 0.0
        elif limit.remaining <= self.low_water:
            interval = limit.reset_seconds / limit.remaining
            if interval > self._interval * 1.5 or interval < self._interval / 1.5:
                logger.info(
                    "Hub budget low (%d left for %.0fs): pacing to one request every %.2fs",
                    limit.remaining,
                    limit.reset_seconds,
                    interval,
                )
            self._interval = interval
        else:
            self._interval = 0.0

    def pause(self, seconds: float, now: float | None = None) -> None:
        """Hold every request for ``seconds`` (a 429's ``Retry-After``)."""
        now = anyio.current_time() if now is None else now
        self._paused_until = max(self._paused_until, now + seconds)

    def reserve(self, now: float) -> float:
        """Claim the next slot; return how long the caller must wait for it."""
        start = max(now, self._paused_until, self._next_slot)
        if self._interval:
            self._next_slot = start + self._interval
        return start - now

    async def wait(self) -> None:
        """Wait for this request's turn."""
        delay = self.reserve(anyio.current_time())
        if delay > 0:
            await anyio.sleep(delay)
