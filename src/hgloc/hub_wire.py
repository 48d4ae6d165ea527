"""The Hugging Face Hub's wire rules, as pure functions: what a Hub server answers.

Shared by ``hgloc serve`` and the test emulator (``hgloc_testing``), so the two
servers cannot drift apart: URL paths (``/{repo}/resolve/{rev}/{path}``,
``/api/models/{repo}/...``), revision quoting, ``Range`` maths, the model-info
and tree-listing JSON documents, error documents and blob hashes. No I/O here.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias
from urllib.parse import quote, unquote_to_bytes

import attrs

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
Gated: TypeAlias = Literal[False, "auto", "manual"]
Headers: TypeAlias = list[tuple[bytes, bytes]]


# -- hashes ----------------------------------------------------------------------------------


def git_blob_sha1(data: bytes) -> str:
    """The git blob id of ``data``: what the Hub sends as ``ETag`` for regular files.

    >>> git_blob_sha1(b"")
    'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    from huggingface_hub.utils.sha import git_hash

    return git_hash(data)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores in place of an LFS file (its blob id is the oid)."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


@attrs.frozen
class WireFile:
    """One file of a repo at a commit, as the Hub describes it.

    ``sha1`` is the git blob sha1 of the bytes (regular files); ``sha256`` is
    set for LFS files only. ``oid`` (derived) is the blob id of what git
    stores: the bytes, or the LFS pointer.
    """

    path: str
    size: int
    sha1: str | None = None
    sha256: str | None = None
    oid: str = attrs.field(init=False, eq=False, repr=False)

    @oid.default
    def _oid(self) -> str:
        if self.sha256 is not None:
            return git_blob_sha1(lfs_pointer(self.sha256, self.size))
        return self.sha1 or ""

    @classmethod
    def of(cls, path: str, data: bytes, *, lfs: bool) -> WireFile:
        """The description of ``data`` stored at ``path`` (hashed here)."""
        if lfs:
            return cls(path, len(data), sha256=hashlib.sha256(data).hexdigest())
        return cls(path, len(data), sha1=git_blob_sha1(data))

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None

    @property
    def etag(self) -> str:
        """The content hash a client checks: sha256 for LFS, git blob sha1 otherwise."""
        return self.sha256 or self.sha1 or ""

    @property
    def pointer_size(self) -> int | None:
        return None if self.sha256 is None else len(lfs_pointer(self.sha256, self.size))


# -- paths -----------------------------------------------------------------------------------


class Endpoint(enum.Enum):
    """The Hub endpoints a read-only mirror answers."""

    MODEL_INFO = "model_info"
    TREE = "tree"
    RESOLVE = "resolve"


@attrs.frozen
class HubPath:
    """A request path, parsed: which endpoint, for which repo, revision and file.

    ``revision`` is ``None`` for model info at the default branch. ``repo_span``
    is the ``(start, end)`` of the segments holding the repo id (to rewrite it
    in a redirect).
    """

    endpoint: Endpoint
    repo_id: str
    revision: str | None
    path: str
    repo_span: tuple[int, int]


def quote_revision(revision: str) -> str:
    """A revision as one URL segment (``refs/pr/1`` -> ``refs%2Fpr%2F1``)."""
    return quote(revision, safe="")


def resolve_path(repo_id: str, revision: str, path: str) -> str:
    """``/{repo}/resolve/{revision}/{path}``, the revision fully quoted.

    >>> resolve_path("gpt2", "refs/pr/1", "config.json")
    '/gpt2/resolve/refs%2Fpr%2F1/config.json'
    """
    return f"/{quote(repo_id)}/resolve/{quote_revision(revision)}/{quote(path)}"


def path_segments(raw_path: bytes) -> list[str]:
    """Decoded segments of a raw (percent-encoded) path, split before decoding.

    >>> path_segments(b"/gpt2/resolve/refs%2Fpr%2F1/config.json")
    ['gpt2', 'resolve', 'refs/pr/1', 'config.json']
    """
    raw = raw_path.split(b"?", 1)[0].split(b"/")[1:]
    if raw and raw[-1] == b"":
        raw.pop()
    return [unquote_to_bytes(s).decode("utf-8", "replace") for s in raw]


def split_revision(segs: Sequence[str]) -> tuple[str, list[str]] | None:
    """The revision and the rest of a URL path; an unencoded ``refs/pr/1`` spans three segments.

    >>> split_revision(["refs", "pr", "1", "config.json"])
    ('refs/pr/1', ['config.json'])
    """
    if not segs:
        return None
    if segs[0] == "refs" and len(segs) >= 3:
        return "/".join(segs[:3]), list(segs[3:])
    return segs[0], list(segs[1:])


def split_repo(
    segs: Sequence[str],
    start: int,
    actions: Iterable[str],
    known: Callable[[str], bool] | None = None,
) -> tuple[str, int] | None:
    """(repo id, index after it): ``org/name``, or a legacy ``name`` (``gpt2``).

    When both read (``gpt2/tree/tree/...``), ``org/name`` wins, the Hub's usual
    form, unless ``known`` says only the one-part id exists.

    >>> split_repo(["api", "models", "gpt2", "tree", "main"], 2, ("tree",))
    ('gpt2', 3)
    """
    rest = segs[start:]
    words = frozenset(actions)
    two = len(rest) >= 2 and (len(rest) == 2 or rest[2] in words)
    one = len(rest) >= 1 and (len(rest) == 1 or rest[1] in words)
    if one and two and known is not None:
        one = known(rest[0]) and not known(f"{rest[0]}/{rest[1]}")
        two = not one
    if two:
        return f"{rest[0]}/{rest[1]}", start + 2
    if one:
        return rest[0], start + 1
    return None


def parse_hub_path(
    segs: Sequence[str], known: Callable[[str], bool] | None = None
) -> HubPath | None:
    """The endpoint ``segs`` asks for, or ``None`` (404) when it names none.

    >>> parse_hub_path(["gpt2", "resolve", "refs", "pr", "1", "config.json"]).revision
    'refs/pr/1'
    """
    if not segs:
        return None
    if segs[0] == "api":
        if len(segs) < 3 or segs[1] != "models":
            return None
        found = split_repo(segs, 2, ("revision", "tree"), known)
        if found is None:
            return None
        repo_id, i = found
        rest = segs[i:]
        if not rest:
            return HubPath(Endpoint.MODEL_INFO, repo_id, None, "", (2, i))
        if rest[0] == "revision" and len(rest) >= 2:
            return HubPath(Endpoint.MODEL_INFO, repo_id, "/".join(rest[1:]), "", (2, i))
        split = split_revision(rest[1:]) if rest[0] == "tree" else None
        if split is None:
            return None
        return HubPath(Endpoint.TREE, repo_id, split[0], "/".join(split[1]), (2, i))
    found = split_repo(segs, 0, ("resolve",), known)
    if found is None or found[1] >= len(segs) or segs[found[1]] != "resolve":
        return None
    repo_id, i = found
    split = split_revision(segs[i + 1 :])
    if split is None or not split[1]:
        return None
    return HubPath(Endpoint.RESOLVE, repo_id, split[0], "/".join(split[1]), (0, i))


# -- ranges ----------------------------------------------------------------------------------


@attrs.frozen
class ByteSpan:
    """What to send of a ``size``-byte file: bytes ``start..end`` (inclusive) with ``status``.

    200: the whole file; 206: one range; 416: nothing (the range is past the end).
    """

    status: int
    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return 0 if self.status == 416 else self.end - self.start + 1

    def headers(self) -> Headers:
        """``Content-Range`` (206, 416) and ``Content-Length``."""
        if self.status == 416:
            return [(b"content-range", b"bytes */%d" % self.size), (b"content-length", b"0")]
        out: Headers = []
        if self.status == 206:
            out.append((b"content-range", b"bytes %d-%d/%d" % (self.start, self.end, self.size)))
        out.append((b"content-length", b"%d" % self.length))
        return out


def plan_range(value: str | None, size: int) -> ByteSpan:
    """The answer to one ``Range: bytes=`` header for a ``size``-byte file.

    Several ranges, or a header that does not parse, are ignored (200 and the
    whole file), as the HTTP spec allows.

    >>> [plan_range(h, 100).status for h in ("bytes=0-9", "bytes=-10", "bytes=100-", None)]
    [206, 206, 416, 200]
    >>> plan_range("bytes=5-99999", 100).headers()[0]
    (b'content-range', b'bytes 5-99/100')
    """
    whole = ByteSpan(200, 0, size - 1, size)
    if value is None or not value.startswith("bytes=") or "," in value:
        return whole
    first, sep, last = value[6:].strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()):
        return whole
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return whole
    unsatisfiable = ByteSpan(416, 0, -1, size)
    if not first:  # the last N bytes
        n = int(last)
        return (
            ByteSpan(206, max(size - n, 0), size - 1, size)
            if n > 0 and size > 0
            else (unsatisfiable)
        )
    start = int(first)
    if last and int(last) < start:
        return whole  # syntactically invalid: ignored
    if start >= size:
        return unsatisfiable
    return ByteSpan(206, start, min(int(last) if last else size - 1, size - 1), size)


# -- documents -------------------------------------------------------------------------------


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


def card_data(card: str | None) -> dict[str, Any]:
    """A card's YAML front matter, parsed as huggingface_hub parses it (``{}`` if none)."""
    if not card:
        return {}
    try:
        from huggingface_hub import RepoCard

        parsed = RepoCard(card, ignore_metadata_errors=True).data
        data = parsed.to_dict()  # type: ignore[no-untyped-call]
    except Exception:  # a card is user content: a bad one must not break model info
        return {}
    return data if isinstance(data, dict) else {}


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


def tree_listing(
    files: Mapping[str, WireFile], path: str, *, recursive: bool
) -> list[dict[str, Any]] | None:
    """The entries of ``GET /api/models/{id}/tree/{rev}/{path}``; ``None`` if no such folder.

    Folders come first, then files, as on the Hub (recursive listings are
    sorted by path); a folder's ``oid`` is a stable hash of what it holds (not
    git's tree id, which needs file modes).
    """
    children: dict[str, set[str]] = {"": set()}
    for file_path in files:
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
        if entry in files:
            return files[entry].oid
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
        file = files[entry]
        item: dict[str, Any] = {"type": "file", "oid": file.oid, "size": file.size, "path": entry}
        if file.sha256 is not None:
            item["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": file.pointer_size}
        out.append(item)
    return out
