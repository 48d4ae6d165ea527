"""Key validation shared by every backend: nothing may escape a store's root."""

from __future__ import annotations

import re

from hgloc.errors import InvalidKeyError

__all__ = ["join_key", "validate_key", "validate_prefix"]

_MAX_KEY_LENGTH = 1024  # S3's limit on object keys, in UTF-8 bytes
_MAX_SEGMENT_LENGTH = 255  # the usual filesystem limit on one name
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Most keys are plain (segments of letters, digits, '_', '-' and '.', but not
# '.' or '..'): one regex clears them; anything else gets the full check with
# its reason. Metadata files (".hg_localization_...") are plain too.
_SEGMENT = r"(?!\.\.?(?:/|\Z))[\w.-]+"
_PLAIN = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*", re.ASCII)


def validate_key(key: str) -> str:
    """Return ``key`` if it is a clean relative posix path, else raise ``InvalidKeyError``.

    Refused: empty keys and segments, ``.`` and ``..``, absolute paths, backslashes,
    NUL and other control characters, names longer than filesystems allow.

    >>> validate_key("models/gpt2/default_revision/config.json")
    'models/gpt2/default_revision/config.json'
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"storage key must be a string, got {type(key).__name__}")
    problem = _key_problem(key)
    if problem:
        raise InvalidKeyError(f"invalid storage key {key!r}: {problem}")
    return key


def validate_prefix(prefix: str) -> str:
    """Validate a listing prefix; ``""`` means the whole store. Trailing ``/`` is dropped."""
    stripped = prefix.rstrip("/")
    return validate_key(stripped) if stripped else ""


def join_key(*parts: str) -> str:
    """Join key parts with ``/``, skipping empty ones, and validate the result."""
    return validate_key("/".join(p.strip("/") for p in parts if p.strip("/")))


def _key_problem(key: str) -> str | None:
    if len(key) <= _MAX_SEGMENT_LENGTH and _PLAIN.fullmatch(key):
        return None
    if not key:
        return "it is empty"
    if _CONTROL.search(key):
        return "it contains a NUL or control character"
    if "\\" in key:
        return "it contains a backslash; use '/' between segments"
    if key.startswith("/"):
        return "it is absolute; keys are relative to the store root"
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_LENGTH:
        return f"it is longer than {_MAX_KEY_LENGTH} bytes"
    for segment in key.split("/"):
        if segment == "":
            return "it has an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
        if len(segment.encode("utf-8", "surrogatepass")) > _MAX_SEGMENT_LENGTH:
            return f"a segment is longer than {_MAX_SEGMENT_LENGTH} bytes"
    if len(key) >= 2 and key[1] == ":":
        return "it looks like a Windows drive path"
    return None
