"""hgloc's exceptions: one root, leaves that also subclass what users already catch.

Every error hgloc raises on purpose is an :class:`HglocError`. Leaves also
derive from the builtin (``ValueError``, ``FileNotFoundError``, ...) or the
``huggingface_hub`` class a user would reach for first, so
``except FileNotFoundError`` and ``except huggingface_hub.errors.GatedRepoError``
both work.
"""

from __future__ import annotations

import huggingface_hub.errors as hf_errors

__all__ = [
    "BackendUnavailableError",
    "ConditionalWritesIgnoredError",
    "EntryNotFoundError",
    "ExpressionError",
    "GatedRepoError",
    "HeaderError",
    "HglocError",
    "HubError",
    "HubUnavailableError",
    "IndexCorruptError",
    "IntegrityError",
    "InvalidKeyError",
    "InvalidModelIdError",
    "LayoutCollisionError",
    "LeaseLostError",
    "MissingExtraError",
    "NoBucketConfiguredError",
    "ObjectNotFoundError",
    "OfflineModeError",
    "RepositoryNotFoundError",
    "ResponseTooLargeError",
    "RevisionNotFoundError",
    "StorePermissionError",
]


class HglocError(Exception):
    """Root of every error hgloc raises on purpose."""


class InvalidKeyError(HglocError, ValueError):
    """A storage key that is not a clean relative posix path."""


class InvalidModelIdError(HglocError, ValueError):
    """A model id or revision that cannot name a Hub repo safely."""


class ObjectNotFoundError(HglocError, FileNotFoundError):
    """The key does not exist in the store."""


class StorePermissionError(HglocError, PermissionError):
    """The store refused access (filesystem permissions, S3 403)."""


class BackendUnavailableError(HglocError, ConnectionError):
    """The store could not be reached (S3 endpoint down, ...)."""


class ConditionalWritesIgnoredError(HglocError, RuntimeError):
    """The bucket's server ignores ``If-Match`` / ``If-None-Match``: writers would race."""


class LeaseLostError(HglocError, RuntimeError):
    """Another process took over this process's lease in the bucket: its writes are refused."""


class MissingExtraError(HglocError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class LayoutCollisionError(HglocError):
    """Two different model ids map to one folder of the store."""


class IndexCorruptError(HglocError):
    """A JSON index or metadata file in the store does not parse; it is never overwritten."""


class IntegrityError(HglocError):
    """Bytes received do not match the hash the Hub announced."""


class ResponseTooLargeError(IntegrityError):
    """The Hub sent more bytes than it announced or than hgloc accepts for the file."""


class OfflineModeError(HglocError, hf_errors.OfflineModeIsEnabled):
    """``HF_HUB_OFFLINE`` (or ``skip_hf_fetch``) forbids the request that would be needed.

    Also huggingface_hub's ``OfflineModeIsEnabled`` (a ``ConnectionError``).
    """


class NoBucketConfiguredError(HglocError, ValueError):
    """An operation needs the team bucket and none is configured (``HGLOC_S3_BUCKET_NAME``)."""


class HubError(HglocError):
    """Base for errors that come from talking to the Hub."""


class HubUnavailableError(HubError, ConnectionError):
    """The Hub did not answer usefully after every retry (network, 5xx, 429)."""


# The Hub's own error classes need the HTTP response that caused them; hgloc
# raises these from the adapter, where it has one.


class RepositoryNotFoundError(HubError, hf_errors.RepositoryNotFoundError):
    """No such repo, or it is private and the token cannot see it."""


class GatedRepoError(RepositoryNotFoundError, hf_errors.GatedRepoError):
    """The repo is gated and the token's user has not been granted access."""


class RevisionNotFoundError(HubError, hf_errors.RevisionNotFoundError):
    """The branch, tag or commit does not exist in the repo."""


class EntryNotFoundError(HubError, hf_errors.RemoteEntryNotFoundError):
    """The file is not in the repo at that revision."""


class ExpressionError(HglocError, ValueError):
    """A malformed query expression; ``position`` (0-based) and ``length`` point at the fault."""

    def __init__(self, message: str, expression: str, position: int, length: int = 1) -> None:
        self.message = message
        self.expression = expression
        self.position = max(0, min(position, len(expression)))
        self.length = max(1, length)
        super().__init__(f"{message} (at column {self.position + 1})")

    @property
    def caret(self) -> str:
        """The expression on one line and ``^^^`` under the fault, for a terminal."""
        return f"{self.expression}\n{' ' * self.position}{'^' * self.length}"


class HeaderError(HglocError, ValueError):
    """A safetensors header that cannot be read (bad length, not JSON, bad tensor entry)."""
