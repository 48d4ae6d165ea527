"""``Range`` maths: what part of a file one ``Range: bytes=`` header asks for."""

from __future__ import annotations

import re
from typing import TypeAlias

import attrs

__all__ = ["ByteSpan", "Headers", "plan_range"]

Headers: TypeAlias = list[tuple[bytes, bytes]]
_DIGITS = re.compile(r"[0-9]+")


@attrs.frozen
class ByteSpan:
    """What to send of a ``size``-byte file: bytes ``start..end`` (inclusive) with ``status``.

    200: the whole file; 206: one range; 416: nothing (the range is past the end).
    """

    status: int
    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return 0 if self.status == 416 else self.end - self.start + 1

    def headers(self) -> Headers:
        """``Content-Range`` (206, 416) and ``Content-Length``."""
        if self.status == 416:
            return [(b"content-range", b"bytes */%d" % self.size), (b"content-length", b"0")]
        out: Headers = []
        if self.status == 206:
            out.append((b"content-range", b"bytes %d-%d/%d" % (self.start, self.end, self.size)))
        out.append((b"content-length", b"%d" % self.length))
        return out


def plan_range(value: str | None, size: int) -> ByteSpan:
    """The answer to one ``Range: bytes=`` header for a ``size``-byte file.

    Several ranges, or a header that does not parse, are ignored (200 and the
    whole file), as the HTTP spec allows.

    >>> [plan_range(h, 100).status for h in ("bytes=0-9", "bytes=-10", "bytes=100-", None)]
    [206, 206, 416, 200]
    >>> plan_range("bytes=\u00b2-3", 100).status  # a superscript two is no digit
    200
    >>> plan_range("bytes=5-99999", 100).headers()[0]
    (b'content-range', b'bytes 5-99/100')
    """
    whole = ByteSpan(200, 0, size - 1, size)
    if value is None or not value.startswith("bytes=") or "," in value:
        return whole
    first, sep, last = value[6:].strip().partition("-")
    # ASCII digits only: str.isdigit() also accepts "²" or "٣" (RFC 9110: ignore the header).
    if not sep or not (first or last) or not all(_DIGITS.fullmatch(p) for p in (first, last) if p):
        return whole
    unsatisfiable = ByteSpan(416, 0, -1, size)
    if not first:  # the last N bytes
        n = int(last)
        if n > 0 and size > 0:
            return ByteSpan(206, max(size - n, 0), size - 1, size)
        return unsatisfiable
    start = int(first)
    if last and int(last) < start:
        return whole  # syntactically invalid: ignored
    if start >= size:
        return unsatisfiable
    return ByteSpan(206, start, min(int(last) if last else size - 1, size - 1), size)
