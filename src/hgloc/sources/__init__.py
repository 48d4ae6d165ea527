"""Where models come from: the Hugging Face Hub adapter and its I/O-free protocol rules."""

from __future__ import annotations

from hgloc.sources._hub_protocol import Backoff, RateLimit, git_blob_sha1
from hgloc.sources._huggingface import HubFile, HuggingFaceSource, RetryPolicy
from hgloc.sources._pacing import RatePacer
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
