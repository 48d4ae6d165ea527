"""Byte ranges as pure functions: split a file into parts, build and read range headers.

No I/O here (see ``tests/test_ranges.py``). The downloader plans a big file
into :class:`Part` values and fetches each with a ``Range`` header; a part is
resumed by asking for what follows the bytes already on disk.
"""

from __future__ import annotations

import re

import attrs

__all__ = [
    "ContentRange",
    "Part",
    "parse_content_range",
    "plan_parts",
    "range_header",
]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@attrs.frozen
class Part:
    """Bytes ``[start, end)`` of a file: part number ``index``."""

    index: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_parts(size: int, *, part_size: int, split_above: int) -> list[Part]:
    """Split ``size`` bytes into parts of about ``part_size`` bytes.

    A file of at most ``split_above`` bytes stays one part. Otherwise the parts
    have equal lengths (the last one may be shorter by a few bytes), none longer
    than ``part_size``. An empty file is one empty part.

    >>> [(p.start, p.end) for p in plan_parts(10, part_size=4, split_above=5)]
    [(0, 4), (4, 8), (8, 10)]
    >>> plan_parts(10, part_size=4, split_above=10)
    [Part(index=0, start=0, end=10)]
    """
    if size < 0 or part_size < 1 or split_above < 0:
        raise ValueError(f"bad plan: size={size}, part_size={part_size}, split={split_above}")
    if size <= split_above:
        return [Part(0, 0, size)]
    count = -(-size // part_size)  # ceil
    # Equal parts: no tiny tail part that costs a request for a few bytes.
    length = -(-size // count)
    return [
        Part(i, start, min(start + length, size)) for i, start in enumerate(range(0, size, length))
    ]


def range_header(start: int, end: int | None) -> str | None:
    """The ``Range`` value for bytes ``[start, end)``; ``None`` when it is the whole file.

    >>> range_header(100, 200), range_header(100, None), range_header(0, None)
    ('bytes=100-199', 'bytes=100-', None)
    """
    if start < 0 or (end is not None and end <= start):
        raise ValueError(f"empty or negative range [{start}, {end})")
    if end is None:
        return None if start == 0 else f"bytes={start}-"
    return f"bytes={start}-{end - 1}"


@attrs.frozen
class ContentRange:
    """A ``Content-Range`` answer: bytes ``[start, end)`` of ``total`` (``None``: unknown)."""

    start: int
    end: int
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """Parse ``bytes 100-199/1000`` (end made exclusive); ``None`` if absent or malformed.

    >>> parse_content_range("bytes 100-199/1000")
    ContentRange(start=100, end=200, total=1000)
    """
    if not value:
        return None
    match = _CONTENT_RANGE.match(value)
    if match is None:
        return None
    first, last, total = match.groups()
    start, end = int(first), int(last) + 1
    if end <= start:
        return None
    size = None if total == "*" else int(total)
    if size is not None and end > size:
        return None
    return ContentRange(start, end, size)
