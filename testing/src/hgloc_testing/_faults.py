"""Fault knobs of the Hub emulator: latency, errors, dropped and damaged bodies."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import attrs

__all__ = ["Faults"]


def _paths(value: Collection[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.define
class Faults:
    """What goes wrong, and how often. Mutable: flip fields on a live emulator.

    Rates are fractions in ``[0, 1]`` drawn from one ``random.Random(seed)`` owned by
    the emulator, so a sequential run is reproducible. Path sets match a file's repo
    path (``"config.json"``) or ``"<repo_id>/<path>"``.

    Injected 503 and 429 answers carry no Hub headers (no ``X-Repo-Commit`` or
    ``RateLimit``), like answers from a proxy in front of the Hub.

    - ``latency``: seconds added to every request (non-blocking sleep).
    - ``fail_all``: every request answers 503 (a hub that never recovers).
    - ``error_rate``: fraction of requests answered 503.
    - ``rate_limit_every``: every Nth request (all requests, counted from when the
      knob was set) answers 429 with ``Retry-After: retry_after``; 0 disables.
    - ``drop_rate``: fraction of GET answers whose body is cut halfway and whose
      connection is then aborted.
    - ``corrupt_rate`` / ``corrupt_paths``: file bodies (``/resolve/`` and CDN GETs) with
      one byte flipped while ETag and sizes still announce the true content.
    - ``oversize_paths``: full-file GETs that send ``oversize_by`` extra bytes beyond the
      size HEAD, ``X-Linked-Size`` and the tree announce. The wire framing stays
      valid (uvicorn refuses to write past ``Content-Length``), so ``Content-Length`` of
      that GET counts the extra bytes.
    - ``announced_sizes``: ``{"<repo_id>/<path>": size}``, the size the tree listing
      announces for a file (absurd sizes: ``2**47``); its bytes stay what they are.
    """

    latency: float = 0.0
    fail_all: bool = False
    error_rate: float = 0.0
    rate_limit_every: int = 0
    retry_after: int = 1
    drop_rate: float = 0.0
    corrupt_rate: float = 0.0
    corrupt_paths: frozenset[str] = attrs.field(factory=frozenset, converter=_paths)
    oversize_paths: frozenset[str] = attrs.field(factory=frozenset, converter=_paths)
    oversize_by: int = 16
    seed: int = 0
    # Hostile answers (issue 15), applied by _hostile.py; new knobs go below.
    announced_sizes: Mapping[str, int] = attrs.field(factory=dict)

    def matches(self, paths: frozenset[str], repo_id: str, path: str) -> bool:
        """Whether a file is named in one of the path sets."""
        return bool(paths) and (path in paths or f"{repo_id}/{path}" in paths)
