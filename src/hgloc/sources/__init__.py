"""Where models come from: the Hugging Face Hub adapter and its I/O-free protocol rules.

Modules, one job each: ``_hub_protocol`` (the Hub's rules as pure functions),
``_http`` (the connection pools), ``_requests`` (redirects, credentials,
retries), ``_hub_errors`` (error answers as exceptions), ``_files`` (a small
file fetched and verified), ``_streaming`` (a big file's byte ranges),
``_repo_api`` (model info, commits, the file list), ``_pacing``, ``_ranges``,
``_tree``, and ``_huggingface`` (the :class:`HuggingFaceSource` façade).
"""

from __future__ import annotations

from hgloc.sources._files import HubFile
from hgloc.sources._hub_protocol import Backoff, RateLimit, git_blob_sha1
from hgloc.sources._huggingface import HuggingFaceSource
from hgloc.sources._pacing import RatePacer
from hgloc.sources._requests import RetryPolicy
from hgloc.sources._tree import TreeEntry

__all__ = [
    "Backoff",
    "HubFile",
    "HuggingFaceSource",
    "RateLimit",
    "RatePacer",
    "RetryPolicy",
    "TreeEntry",
    "git_blob_sha1",
]

for _obj in (Backoff, HubFile, HuggingFaceSource, RateLimit, RatePacer, RetryPolicy, TreeEntry):
    _obj.__module__ = __name__
