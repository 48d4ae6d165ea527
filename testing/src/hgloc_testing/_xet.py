"""The emulator's Xet mode: the Hub as it answers for large files today, without a CAS.

- ``/resolve/`` of an LFS file answers ``302`` to a **signed, expiring** CDN URL
  whose path starts with a prefix drawn per run (``/cdn/xet-bridge-<hex>/...``):
  real CDN host names change over time, and ``*.localhost`` names do not
  resolve everywhere, so the part that changes is the path. Clients must
  neither hard-code nor store it. A link past ``X-Amz-Date + X-Amz-Expires``
  (or with a wrong signature) answers ``403``, as S3 presigned URLs do.
- The redirect carries ``X-Repo-Commit``, ``X-Linked-Etag``, ``X-Linked-Size``,
  ``X-Xet-Hash`` and ``Link: <...>; rel="xet-auth"``, and no ``Content-Length``.
- Tree entries carry ``xetHash`` beside ``lfs.oid``.
- ``GET /api/models/{repo}/xet-read-token/{rev}`` is where a client with
  ``hf_xet`` goes next: counted in :attr:`XetMode.read_token_requests` and
  answered ``501`` (there is no CAS here).
- ``bandwidth``: bytes/s per CDN connection (real edges cap one connection).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, quote, urlencode

import anyio
import attrs

from ._replies import Reply, error

__all__ = ["XetMode", "paced_chunks", "send_paced", "xet_hash"]

Headers: TypeAlias = list[tuple[bytes, bytes]]
Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_PACED_CHUNK = 64 << 10  # fewer, larger sends: a 40 MB/s cap costs the emulator little CPU


def xet_hash(sha256: str) -> str:
    """A stable 64-hex stand-in for a file's Xet hash (derived from its sha256)."""
    return hashlib.sha256(b"xet\0" + sha256.encode()).hexdigest()


def _amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(epoch)))


def _parse_amz_date(value: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


@attrs.define
class XetMode:
    """Knobs and counters of the Xet mode; mutable on a live emulator.

    ``link_ttl``: seconds a signed link stays valid (``X-Amz-Expires``, at
    least 1 as on S3). ``clock``: the emulator's wall clock, for tests that
    age links without waiting.
    """

    link_ttl: int = 3600
    bandwidth: int = 0  # bytes/s per CDN connection; 0: no cap
    prefix: str = attrs.field(factory=lambda: f"xet-bridge-{secrets.token_hex(6)}")
    clock: Callable[[], float] = time.time
    read_token_requests: int = 0
    expired_requests: int = 0
    _key: bytes = attrs.field(factory=lambda: secrets.token_bytes(16), repr=False)

    def _sign(self, sha256: str, repo_id: str, path: str, date: str, expires: str) -> str:
        message = "\n".join((sha256, repo_id, path, date, expires)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def redirect(
        self, hub_base: str, cdn_base: str, repo_id: str, commit: str, entry: Any
    ) -> Reply:
        """The ``302`` of ``/resolve/`` for an LFS ``entry`` (a ``FileEntry``)."""
        date, expires = _amz_date(self.clock()), str(max(1, int(self.link_ttl)))
        signature = self._sign(entry.sha256, repo_id, entry.path, date, expires)
        query = urlencode(
            {
                "repo": repo_id,
                "path": entry.path,
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Date": date,
                "X-Amz-Expires": expires,
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": signature,
            },
            quote_via=quote,
        )
        location = f"{cdn_base}/cdn/{self.prefix}/{entry.sha256}?{query}"
        token_route = f"{hub_base}/api/models/{repo_id}/xet-read-token/{commit}"
        headers: Headers = [
            (b"x-repo-commit", commit.encode()),
            (b"location", location.encode()),
            (b"etag", b'"%s"' % entry.sha256.encode()),
            (b"x-linked-etag", b'"%s"' % entry.sha256.encode()),
            (b"x-linked-size", b"%d" % entry.size),
            (b"x-xet-hash", xet_hash(entry.sha256).encode()),
            (b"link", b'<%s>; rel="xet-auth"' % token_route.encode()),
        ]
        return Reply(302, headers)

    def owns(self, segs: list[str]) -> bool:
        """Whether a request path is one of this run's signed CDN links."""
        return len(segs) == 3 and segs[0] == "cdn" and segs[1] == self.prefix

    def check(self, sha256: str, query: bytes) -> tuple[str, str] | Reply:
        """``(repo_id, path)`` of a valid link, else the ``403`` S3 gives."""
        params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        repo_id, path = params.get("repo", ""), params.get("path", "")
        date, expires = params.get("X-Amz-Date", ""), params.get("X-Amz-Expires", "")
        signature = self._sign(sha256, repo_id, path, date, expires)
        issued = _parse_amz_date(date)
        if not hmac.compare_digest(signature, params.get("X-Amz-Signature", "")):
            return error(403, None, "SignatureDoesNotMatch")
        if issued is None or not expires.isdigit() or self.clock() >= issued + int(expires):
            self.expired_requests += 1
            return error(403, None, "Request has expired")
        return repo_id, path

    def annotate(self, listing: list[dict[str, Any]] | None) -> None:
        """Add ``xetHash`` to the LFS entries of a tree listing (in place)."""
        for item in listing or ():
            lfs = item.get("lfs")
            if isinstance(lfs, dict):
                item["xetHash"] = xet_hash(lfs["oid"])

    def read_token(self, segs: list[str]) -> Reply | None:
        """The answer to ``/api/models/{repo}/xet-read-token/{rev}``, or ``None`` if not that."""
        if len(segs) < 4 or segs[:2] != ["api", "models"] or "xet-read-token" not in segs[3:]:
            return None
        self.read_token_requests += 1
        return error(501, None, "this Hub emulator has no Xet CAS: download over HTTP")


async def send_paced(send: Send, body: bytes | memoryview, chunk: int, pause: float) -> None:
    """Send ``body`` ``chunk`` bytes at a time, one every ``pause`` seconds (bandwidth, drip).

    Paced against the clock, not by sleeping ``pause`` after each send: the time a
    send and a sleep's overshoot take would otherwise come off the rate (a 40 MB/s
    cap gave 14 MB/s), yet the body never goes faster than one chunk per ``pause``.
    """
    view = memoryview(body)
    began = anyio.current_time()
    for index, start in enumerate(range(0, len(view), chunk), 1):
        piece = bytes(view[start : start + chunk])
        await send({"type": "http.response.body", "body": piece, "more_body": True})
        await anyio.sleep(max(0.0, began + index * pause - anyio.current_time()))
    await send({"type": "http.response.body", "body": b""})


def paced_chunks(bandwidth: int) -> tuple[int, float]:
    """Chunk size and pause that keep one connection at ``bandwidth`` bytes/s."""
    chunk = min(_PACED_CHUNK, max(1, bandwidth // 10))
    return chunk, chunk / bandwidth
