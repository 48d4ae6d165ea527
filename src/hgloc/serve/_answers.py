"""The JSON bodies the Hub answers, built from a served folder: model info and tree listings.

Pure functions of a :class:`~hgloc.serve._catalog.Snapshot` (and the card's
text): no I/O, so they are tested without a server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from hgloc.serve._catalog import Snapshot

__all__ = ["card_data", "hub_time", "model_info", "tree_listing"]


def hub_time(timestamp: str | None) -> str | None:
    """An ISO timestamp in the Hub's format (``2024-05-01T12:00:00.000Z``), or ``None``."""
    if not timestamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def card_data(card: str | None) -> dict[str, Any]:
    """The card's YAML front matter, parsed as huggingface_hub parses it (``{}`` if none)."""
    if not card:
        return {}
    try:
        from huggingface_hub import RepoCard

        parsed = RepoCard(card, ignore_metadata_errors=True).data
        data = parsed.to_dict()  # type: ignore[no-untyped-call]
    except Exception:  # a card is user content: a bad one must not break model info
        return {}
    return data if isinstance(data, dict) else {}


def model_info(snap: Snapshot, *, card: str | None, config: bytes | None, blobs: bool) -> bytes:
    """The body of ``GET /api/models/{id}[/revision/{rev}]`` for ``snap``.

    ``siblings`` lists what the folder holds: the whole repo for a full model,
    the card and config for a metadata-only one. ``blobs`` adds sizes and hashes.
    """
    data = card_data(card)
    siblings: list[dict[str, Any]] = []
    for path in sorted(snap.files):
        file = snap.files[path]
        sibling: dict[str, Any] = {"rfilename": path}
        if blobs:
            sibling["size"] = file.size
            sibling["blobId"] = file.oid
            if file.record.sha256 is not None:
                sibling["lfs"] = {
                    "sha256": file.record.sha256,
                    "size": file.size,
                    "pointerSize": file.pointer_size,
                }
        siblings.append(sibling)
    library = data.get("library_name")
    pipeline = data.get("pipeline_tag")
    tags = [str(t) for t in data.get("tags") or [] if isinstance(t, str | int | float)]
    if isinstance(library, str):
        tags.append(library)
    if data.get("license") is not None:
        tags.append(f"license:{data['license']}")
    org, _, _ = snap.model_id.rpartition("/")
    when = hub_time(snap.record.cached_timestamp)
    info: dict[str, Any] = {
        "_id": hashlib.sha1(snap.model_id.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": snap.model_id,
        "modelId": snap.model_id,
        "author": org or None,
        "sha": snap.commit,
        "private": False,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": list(dict.fromkeys(tags)),
        "siblings": siblings,
        "spaces": [],
        "usedStorage": snap.size,
    }
    if when is not None:
        # The store knows when the model was cached, not when it was committed.
        info["lastModified"] = info["createdAt"] = when
    if isinstance(library, str):
        info["library_name"] = library
    if isinstance(pipeline, str):
        info["pipeline_tag"] = pipeline
    if data:
        info["cardData"] = data
    summary = _config_summary(config)
    if summary:
        info["config"] = summary
    return _json(info)


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


def tree_listing(snap: Snapshot, path: str, *, recursive: bool) -> bytes | None:
    """The body of ``GET /api/models/{id}/tree/{rev}/{path}``; ``None`` if ``path`` is no folder.

    Folders come first, then files, as on the Hub; a folder's ``oid`` is a
    stable hash of what it holds (not git's tree id, which needs file modes).
    """
    children: dict[str, set[str]] = {"": set()}
    for file_path in snap.files:
        child = file_path
        parent = child.rpartition("/")[0]
        while True:
            known = parent in children
            children.setdefault(parent, set()).add(child)
            if known or not parent:
                break
            child, parent = parent, parent.rpartition("/")[0]
    folder = path.strip("/")
    if folder not in children:
        return None
    oids: dict[str, str] = {}

    def oid(entry: str) -> str:
        if entry in snap.files:
            return snap.files[entry].oid
        if entry not in oids:
            h = hashlib.sha1(b"tree\0", usedforsecurity=False)
            for kid in sorted(children[entry]):
                h.update(f"{kid.rpartition('/')[2]}\0{oid(kid)}\n".encode())
            oids[entry] = h.hexdigest()
        return oids[entry]

    if recursive:
        entries: list[str] = []
        stack = [folder]
        while stack:
            for kid in children[stack.pop()]:
                entries.append(kid)
                if kid in children:
                    stack.append(kid)
        entries.sort()
    else:
        kids = children[folder]
        entries = sorted(k for k in kids if k in children) + sorted(
            k for k in kids if k not in children
        )
    out: list[dict[str, Any]] = []
    for entry in entries:
        if entry in children:
            out.append({"type": "directory", "oid": oid(entry), "size": 0, "path": entry})
            continue
        file = snap.files[entry]
        item: dict[str, Any] = {"type": "file", "oid": file.oid, "size": file.size, "path": entry}
        if file.record.sha256 is not None:
            item["lfs"] = {
                "oid": file.record.sha256,
                "size": file.size,
                "pointerSize": file.pointer_size,
            }
        out.append(item)
    return _json(out)


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
