"""The Hub's JSON documents: errors and model info."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import attrs

from hgloc.hub_wire._cards import card_data
from hgloc.hub_wire._hashes import WireFile
from hgloc.hub_wire._ranges import Headers

__all__ = [
    "ErrorCode",
    "Gated",
    "ModelFacts",
    "dumps",
    "error_document",
    "header_text",
    "model_info",
    "model_summary",
]

Gated: TypeAlias = Literal[False, "auto", "manual"]


class ErrorCode(enum.Enum):
    """``X-Error-Code`` values clients map to their exceptions."""

    REPO_NOT_FOUND = "RepoNotFound"
    REVISION_NOT_FOUND = "RevisionNotFound"
    ENTRY_NOT_FOUND = "EntryNotFound"
    GATED_REPO = "GatedRepo"


def dumps(obj: object) -> bytes:
    """Compact UTF-8 JSON, as the Hub sends it (YAML dates in ``cardData`` as text)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def header_text(text: str) -> bytes:
    """``text`` safe for a header: what a request named may hold control characters."""
    return "".join(c if " " <= c <= "~" else "?" for c in text).encode("ascii")


def error_document(
    code: ErrorCode | None, message: str, *, detail: str | None = None
) -> tuple[bytes, Headers]:
    """A Hub error: the JSON body (``detail`` or ``message``) and its headers."""
    body = dumps({"error": detail or message})
    headers: Headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    if code is not None:
        headers.append((b"x-error-code", code.value.encode()))
    headers.append((b"x-error-message", header_text(message)))
    return body, headers


def _config_summary(config: bytes | None) -> dict[str, Any]:
    """The few config.json keys the Hub repeats in model info."""
    if not config:
        return {}
    try:
        parsed = json.loads(config)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {k: parsed[k] for k in ("architectures", "model_type") if k in parsed}


@attrs.frozen
class ModelFacts:
    """What a server knows of a repo at a commit, for its model-info document.

    ``tags``, ``library_name`` and ``pipeline_tag`` are the Hub's own; when
    absent they come from the card (``extra_tags`` then appended, e.g.
    ``region:us``). Times are in the Hub's format (``2024-05-01T12:00:00.000Z``).
    """

    repo_id: str
    sha: str
    files: Sequence[WireFile]
    card: str | None = None
    config: bytes | None = None
    private: bool = False
    gated: Gated = False
    downloads: int = 0
    likes: int = 0
    last_modified: str | None = None
    created_at: str | None = None
    tags: tuple[str, ...] = ()
    extra_tags: tuple[str, ...] = ()
    library_name: str | None = None
    pipeline_tag: str | None = None


def model_info(facts: ModelFacts, *, blobs: bool) -> dict[str, Any]:
    """The document of ``GET /api/models/{id}[/revision/{rev}]``; ``blobs`` adds hashes."""
    data = card_data(facts.card)
    siblings: list[dict[str, Any]] = []
    for file in sorted(facts.files, key=lambda f: f.path):
        sibling: dict[str, Any] = {"rfilename": file.path}
        if blobs:
            sibling["size"] = file.size
            sibling["blobId"] = file.oid
            if file.sha256 is not None:
                # "sha256" here, but "oid" in tree listings (as on the Hub).
                sibling["lfs"] = {
                    "sha256": file.sha256,
                    "size": file.size,
                    "pointerSize": file.pointer_size,
                }
        siblings.append(sibling)
    library = facts.library_name or data.get("library_name")
    pipeline = facts.pipeline_tag or data.get("pipeline_tag")
    tags = list(facts.tags)
    if not tags:
        tags = [str(t) for t in _as_list(data.get("tags")) if isinstance(t, str | int | float)]
        if isinstance(library, str):
            tags.append(library)
        if data.get("license") is not None:
            tags.append(f"license:{data['license']}")
        tags = list(dict.fromkeys([*tags, *facts.extra_tags]))
    org, _, _ = facts.repo_id.rpartition("/")
    info: dict[str, Any] = {
        "_id": hashlib.sha1(facts.repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": facts.repo_id,
        "modelId": facts.repo_id,
        "author": org or None,
        "sha": facts.sha,
        "private": facts.private,
        "gated": facts.gated,
        "disabled": False,
        "downloads": facts.downloads,
        "likes": facts.likes,
        "tags": tags,
        "siblings": siblings,
        "spaces": [],
        "usedStorage": sum(f.size for f in facts.files),
    }
    if facts.last_modified is not None:
        info["lastModified"] = facts.last_modified
    if facts.created_at is not None:
        info["createdAt"] = facts.created_at
    if isinstance(library, str):
        info["library_name"] = library
    if isinstance(pipeline, str):
        info["pipeline_tag"] = pipeline
    if data:
        info["cardData"] = data
    summary = _config_summary(facts.config)
    if summary:
        info["config"] = summary
    return info


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


_SUMMARY_KEYS = (
    "_id", "id", "modelId", "author", "private", "gated", "downloads", "likes", "tags",
    "pipeline_tag", "library_name", "createdAt", "lastModified",
)  # fmt: skip


def model_summary(facts: ModelFacts) -> dict[str, Any]:
    """One item of ``GET /api/models``: model info's short form (no siblings, no card)."""
    info = model_info(facts, blobs=False)
    summary = {k: info[k] for k in _SUMMARY_KEYS if k in info}
    summary["trendingScore"] = 0
    return summary
