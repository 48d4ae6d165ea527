"""Credentials never reach a log: botocore's DEBUG records are cut before any handler.

botocore logs every request at DEBUG with its headers: the Authorization header names
the access key id, X-Amz-Security-Token carries a session token, and error bodies may
echo the key id. ``hgloc --debug`` turns DEBUG on for every logger, so these values are
cut out of the records where botocore makes them.
"""

from __future__ import annotations

import logging
import re

__all__ = ["redact_credentials_in_logs"]

_SECRET_HEADER = re.compile(
    r"(?i)((?:authorization|x-amz-security-token)['\"]?\s*[:=]\s*b?['\"]?)[^'\"\n]+"
)
_BOTOCORE_LOGGERS = ("botocore.endpoint", "botocore.auth", "botocore.parsers")


class _RedactCredentials(logging.Filter):
    """Replaces credential headers and known key values in a record's message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_HEADER.sub(r"\1<redacted>", message)
        for secret in self.secrets:
            redacted = redacted.replace(secret, "<redacted>")
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_REDACT = _RedactCredentials()


def redact_credentials_in_logs(*secrets: str | None) -> None:
    """Install the filter on botocore's loggers (once), and learn ``secrets`` to cut out."""
    _REDACT.secrets.update(secret for secret in secrets if secret)
    for name in _BOTOCORE_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)
