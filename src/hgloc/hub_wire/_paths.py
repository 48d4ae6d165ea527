"""The Hub's URL paths: which endpoint a request names, for which repo, revision and file."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote, unquote_to_bytes

import attrs

__all__ = [
    "Endpoint",
    "HubPath",
    "is_repo_id",
    "parse_hub_path",
    "path_segments",
    "quote_revision",
    "resolve_path",
    "split_repo",
    "split_revision",
]


class Endpoint(enum.Enum):
    """The Hub endpoints a read-only mirror answers."""

    MODEL_INFO = "model_info"
    TREE = "tree"
    RESOLVE = "resolve"
    PATHS_INFO = "paths_info"  # POST, form fields ``paths`` (repeated) and ``expand``
    REFS = "refs"
    COMMITS = "commits"
    MODELS = "models"  # the listing, ``GET /api/models?search=...``
    AUTH_CHECK = "auth_check"  # 200 when the token may read the repo's files


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


_REPO_PART = re.compile(r"[A-Za-z0-9_.-]{1,96}")


def is_repo_id(text: str) -> bool:
    """Whether ``text`` can name a Hub repo: ``name`` or ``org/name``, the whole of it.

    Checked with ``fullmatch``: a ``$`` would let a trailing newline through.

    >>> is_repo_id("openai-community/gpt2"), is_repo_id("gpt2\\n"), is_repo_id("a/../b")
    (True, False, False)
    """
    parts = text.split("/")
    return len(parts) <= 2 and all(
        _REPO_PART.fullmatch(p) is not None and "--" not in p and ".." not in p for p in parts
    )


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
        return _parse_api(segs, known)
    found = split_repo(segs, 0, ("resolve",), known)
    if found is None or found[1] >= len(segs) or segs[found[1]] != "resolve":
        return None
    repo_id, i = found
    split = split_revision(segs[i + 1 :])
    if split is None or not split[1]:
        return None
    return HubPath(Endpoint.RESOLVE, repo_id, split[0], "/".join(split[1]), (0, i))


_API_ACTIONS = ("revision", "tree", "paths-info", "refs", "commits", "auth-check")
_TERMINAL = {"refs": Endpoint.REFS, "auth-check": Endpoint.AUTH_CHECK}  # nothing after them


def _parse_api(segs: Sequence[str], known: Callable[[str], bool] | None) -> HubPath | None:
    if len(segs) < 2 or segs[1] != "models":
        return None
    if len(segs) == 2:
        return HubPath(Endpoint.MODELS, "", None, "", (2, 2))
    if (
        len(segs) == 4
        and segs[3] == "refs"
        and (known is None or (known(segs[2]) and not known(f"{segs[2]}/refs")))
    ):
        # "name/refs": the refs of a legacy id, unless a repo "name/refs" is known to exist.
        return HubPath(Endpoint.REFS, segs[2], None, "", (2, 3))
    found = split_repo(segs, 2, _API_ACTIONS, known)
    if found is None:
        return None
    repo_id, i = found
    rest = segs[i:]
    span = (2, i)
    if not rest:
        return HubPath(Endpoint.MODEL_INFO, repo_id, None, "", span)
    action = rest[0]
    if action == "revision" and len(rest) >= 2:
        return HubPath(Endpoint.MODEL_INFO, repo_id, "/".join(rest[1:]), "", span)
    if action in _TERMINAL and len(rest) == 1:
        return HubPath(_TERMINAL[action], repo_id, None, "", span)
    kinds = {"tree": Endpoint.TREE, "paths-info": Endpoint.PATHS_INFO, "commits": Endpoint.COMMITS}
    split = split_revision(rest[1:]) if action in kinds else None
    if split is None:
        return None
    path = "/".join(split[1])
    if action != "tree" and path:
        return None
    return HubPath(kinds[action], repo_id, split[0], path, span)
