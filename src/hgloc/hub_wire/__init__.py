"""The Hugging Face Hub's wire rules, as pure functions: what a Hub server answers.

Shared by ``hgloc serve`` and the test emulator (``hgloc_testing``), so the two
servers cannot drift apart: URL paths (``/{repo}/resolve/{rev}/{path}``,
``/api/models/{repo}/...``), revision quoting, ``Range`` maths, the model-info,
tree, paths-info, refs, commits and model-listing documents, error documents,
blob hashes, paging and the Xet hints a mirror must not relay. No I/O here.
"""

from __future__ import annotations

from hgloc.hub_wire._api import (
    MAX_PAGE,
    CommitFacts,
    ListingQuery,
    ModelSort,
    Page,
    Ref,
    commits_document,
    decode_cursor,
    encode_cursor,
    next_link,
    page_of,
    refs_document,
)
from hgloc.hub_wire._cards import CardMetadataError, card_data, load_yaml
from hgloc.hub_wire._documents import (
    ErrorCode,
    Gated,
    ModelFacts,
    dumps,
    error_document,
    header_text,
    model_info,
    model_summary,
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
from hgloc.hub_wire._tree import Folders, paths_info, tree_listing
from hgloc.hub_wire._xet import XET_FIELD, has_xet_hint, strip_xet_fields, strip_xet_headers

__all__ = [
    "DEFAULT_BRANCH",
    "MAX_PAGE",
    "XET_FIELD",
    "ByteSpan",
    "CardMetadataError",
    "CommitFacts",
    "Endpoint",
    "ErrorCode",
    "Folders",
    "Gated",
    "HubPath",
    "ListingQuery",
    "ModelFacts",
    "ModelSort",
    "Page",
    "Ref",
    "WireFile",
    "card_data",
    "commits_document",
    "decode_cursor",
    "dumps",
    "encode_cursor",
    "error_document",
    "git_blob_sha1",
    "has_xet_hint",
    "header_text",
    "is_repo_id",
    "lfs_pointer",
    "load_yaml",
    "model_info",
    "model_summary",
    "next_link",
    "page_of",
    "parse_hub_path",
    "path_segments",
    "paths_info",
    "plan_range",
    "quote_revision",
    "refs_document",
    "resolve_path",
    "split_repo",
    "split_revision",
    "strip_xet_fields",
    "strip_xet_headers",
    "tree_listing",
]

DEFAULT_BRANCH = "main"  # what huggingface_hub asks for when no revision is given
