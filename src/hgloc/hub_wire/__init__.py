"""The Hugging Face Hub's wire rules, as pure functions: what a Hub server answers.

Shared by ``hgloc serve`` and the test emulator (``hgloc_testing``), so the two
servers cannot drift apart: URL paths (``/{repo}/resolve/{rev}/{path}``,
``/api/models/{repo}/...``), revision quoting, ``Range`` maths, the model-info,
tree, paths-info, refs, commits and model-listing documents, error documents,
blob hashes, paging and the Xet hints a mirror must not relay. No I/O here.
"""

from __future__ import annotations

from hgloc.hub_wire._cards import card_data
from hgloc.hub_wire._documents import (
    ErrorCode,
    Gated,
    ModelFacts,
    dumps,
    error_document,
    header_text,
    model_info,
    tree_listing,
)
from hgloc.hub_wire._hashes import WireFile, git_blob_sha1, lfs_pointer
from hgloc.hub_wire._paths import (
    Endpoint,
    HubPath,
    is_repo_id,
    parse_hub_path,
    path_segments,
    quote_revision,
    resolve_path,
    split_repo,
    split_revision,
)
from hgloc.hub_wire._ranges import ByteSpan, plan_range

__all__ = [
    "DEFAULT_BRANCH",
    "ByteSpan",
    "Endpoint",
    "ErrorCode",
    "Gated",
    "HubPath",
    "ModelFacts",
    "WireFile",
    "card_data",
    "dumps",
    "error_document",
    "git_blob_sha1",
    "header_text",
    "is_repo_id",
    "lfs_pointer",
    "model_info",
    "parse_hub_path",
    "path_segments",
    "plan_range",
    "quote_revision",
    "resolve_path",
    "split_repo",
    "split_revision",
    "tree_listing",
]

DEFAULT_BRANCH = "main"  # what huggingface_hub asks for when no revision is given
