"""Fault knobs of the Hub emulator: latency, errors, dropped and damaged bodies."""

from __future__ import annotations

import gzip
from collections.abc import Collection, Mapping

import attrs

from ._replies import Reply

__all__ = ["Faults", "hostile"]


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

    Hostile answers (issue 15), each off by default:

    - ``drip_paths``: file bodies sent one byte every ``drip_interval`` seconds.
    - ``gzip_paths``: file bodies sent gzip-compressed with ``Content-Encoding: gzip``
      whatever the client asked for (a gzip bomb when the file is all zeros).
    - ``no_etag_paths``: file answers without ``ETag`` or ``X-Linked-Etag``.
    - ``bad_commit``: the ``X-Repo-Commit`` value of every answer that carries one.
    - ``bad_location``: the ``Location`` of every ``/resolve/`` redirect to the CDN.
    - ``bad_link``: a ``Link: <bad_link>; rel="next"`` on every tree page.
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
    drip_paths: frozenset[str] = attrs.field(factory=frozenset, converter=_paths)
    drip_interval: float = 1.0
    gzip_paths: frozenset[str] = attrs.field(factory=frozenset, converter=_paths)
    no_etag_paths: frozenset[str] = attrs.field(factory=frozenset, converter=_paths)
    bad_commit: str | None = None
    bad_location: str | None = None
    bad_link: str | None = None
    # Hostile answers (issue 15), applied by _hostile.py; new knobs go below.
    announced_sizes: Mapping[str, int] = attrs.field(factory=dict)

    def matches(self, paths: frozenset[str], repo_id: str, path: str) -> bool:
        """Whether a file is named in one of the path sets."""
        return bool(paths) and (path in paths or f"{repo_id}/{path}" in paths)


def hostile(reply: Reply, faults: Faults, path: str) -> tuple[Reply, str | None]:
    """``reply`` as the hostile-answer knobs change it, and the fault's name (or ``None``).

    ``path`` is the request's path (tree pages are recognised by it).
    """
    headers, fault = reply.headers, None
    if faults.bad_commit is not None and any(k == b"x-repo-commit" for k, _ in headers):
        value = faults.bad_commit.encode("latin-1")
        headers = [(k, value if k == b"x-repo-commit" else v) for k, v in headers]
        fault = "bad_commit"
    if faults.bad_location is not None and reply.status == 302:
        value = faults.bad_location.encode("latin-1")
        headers = [(k, value if k == b"location" else v) for k, v in headers]
        fault = "bad_location"
    if faults.bad_link is not None and "/tree/" in path and reply.status == 200:
        link = b'<%s>; rel="next"' % faults.bad_link.encode("latin-1")
        headers = [*(h for h in headers if h[0] != b"link"), (b"link", link)]
        fault = "bad_link"
    file = reply.file
    if file is not None and faults.matches(faults.no_etag_paths, file.repo_id, file.path):
        headers = [(k, v) for k, v in headers if k not in (b"etag", b"x-linked-etag")]
        fault = "no_etag"
    body = reply.body
    if (
        file is not None
        and reply.status == 200
        and faults.matches(faults.gzip_paths, file.repo_id, file.path)
    ):
        body = gzip.compress(bytes(body), compresslevel=9)
        headers = [(k, v) for k, v in headers if k not in (b"content-length", b"content-encoding")]
        headers += [(b"content-encoding", b"gzip"), (b"content-length", b"%d" % len(body))]
        fault = "gzip"
    return reply._replace(headers=headers, body=body), fault
