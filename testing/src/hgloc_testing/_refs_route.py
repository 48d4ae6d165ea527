"""``GET /api/models/{repo}/refs``: a repo's branches and tags, each at its own commit.

The Hub's shape (``huggingface_hub.HfApi.list_repo_refs`` parses it). Pull-request
refs (branches named ``refs/pr/N``) are listed only with ``include_prs=1``.
Used by the emulator when no other refs route answers first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ._repos import Repo

__all__ = ["refs_body", "refs_repo_id"]


def refs_repo_id(segs: Sequence[str]) -> str | None:
    """The repo id of an ``api/models/{id}/refs`` path, else ``None``."""
    if len(segs) in (4, 5) and segs[0] == "api" and segs[1] == "models" and segs[-1] == "refs":
        return "/".join(segs[2:-1])
    return None


def refs_body(repo: Repo, *, include_prs: bool = False) -> bytes:
    """The refs JSON of ``repo``."""

    def ref(name: str, full: str, index: int) -> dict[str, str]:
        return {"name": name, "ref": full, "targetCommit": repo.commit_sha(index)}

    branches = [
        ref(name, f"refs/heads/{name}", index)
        for name, index in sorted(repo.branches.items())
        if not name.startswith("refs/pr/")
    ]
    tags = [ref(name, f"refs/tags/{name}", index) for name, index in sorted(repo.tags.items())]
    body: dict[str, object] = {"branches": branches, "converts": [], "tags": tags}
    if include_prs:
        body["pullRequests"] = [
            ref(name, name, index)
            for name, index in sorted(repo.branches.items())
            if name.startswith("refs/pr/")
        ]
    return json.dumps(body).encode()
