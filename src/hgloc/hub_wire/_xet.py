"""The Xet hints a mirror must never send: they send clients with ``hf_xet`` past the mirror.

The Hub marks Xet-backed files with ``X-Xet-Hash``, ``X-Xet-Refresh-Route``
and ``Link: <...>; rel="xet-auth"`` on ``/resolve/``, and ``xetHash`` in tree
and paths-info entries. huggingface_hub, seeing any of them with ``hf_xet``
installed, asks ``/api/models/{id}/xet-read-token/{rev}`` and reads from the
Xet CAS directly. Without them it downloads over plain HTTP, from the mirror.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["XET_FIELD", "has_xet_hint", "strip_xet_fields", "strip_xet_headers"]

XET_FIELD = "xetHash"
_LINK_ENTRY = re.compile(rb"<[^>]*>[^,<]*")  # one "<url>; rel=...; ..." of a Link header
_XET_REL = re.compile(rb"""rel\s*=\s*"?[^",;]*xet""", re.IGNORECASE)


def _is_xet_header(name: bytes) -> bool:
    return name.lower().startswith(b"x-xet-")


def strip_xet_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` without ``X-Xet-*`` and without the ``Link`` entries whose rel is Xet's.

    >>> link = (b"link", b'<a>; rel="xet-auth", <b>; rel="next"')
    >>> strip_xet_headers([(b"X-Xet-Hash", b"ab"), link])
    [(b'link', b'<b>; rel="next"')]
    """
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if _is_xet_header(name):
            continue
        if name.lower() == b"link":
            kept = [m.group().strip() for m in _LINK_ENTRY.finditer(value)]
            kept = [entry for entry in kept if not _XET_REL.search(entry)]
            if not kept:
                continue
            value = b", ".join(kept)
        out.append((name, value))
    return out


def has_xet_hint(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether ``headers`` carry anything :func:`strip_xet_headers` would take out."""
    given = list(headers)
    return strip_xet_headers(given) != given


def strip_xet_fields(document: Any) -> Any:
    """A JSON document without any ``xetHash`` key, at any depth (a copy; input untouched).

    >>> strip_xet_fields([{"path": "a", "xetHash": "ff", "lfs": {"oid": "1"}}])
    [{'path': 'a', 'lfs': {'oid': '1'}}]
    """
    if isinstance(document, dict):
        return {k: strip_xet_fields(v) for k, v in document.items() if k != XET_FIELD}
    if isinstance(document, list):
        return [strip_xet_fields(v) for v in document]
    return document
