"""The token a client presents, and its digest (tokens are compared as digests, never kept)."""

from __future__ import annotations

import base64
import binascii
import hashlib

__all__ = ["digest", "presented_token"]


def presented_token(authorization: str | None) -> str | None:
    """The token of ``Bearer <token>``, or the password of ``Basic`` (what browsers send).

    >>> presented_token("Bearer abc"), presented_token("Basic " + "bWU6YWJj"), presented_token("")
    ('abc', 'abc', None)
    """
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def digest(token: str) -> bytes:
    # Compared as fixed-size digests: compare_digest then leaks nothing, not even length.
    return hashlib.sha256(token.encode()).digest()
