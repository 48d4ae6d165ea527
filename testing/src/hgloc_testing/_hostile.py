"""Hostile answers of the Hub emulator that rewrite a reply (see the last fields of Faults).

Kept apart from the app's routing: each rule is a pure function of the request
path, the reply and the knobs.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from hgloc.hub_wire import Endpoint, parse_hub_path

from ._faults import Faults
from ._replies import Reply

__all__ = ["hostile_reply"]


def hostile_reply(
    segs: list[str], reply: Reply, faults: Faults, known: Callable[[str], bool]
) -> tuple[Reply, str | None]:
    """``reply`` with the hostile rewrites the knobs ask for, and the fault's name if any."""
    if not faults.announced_sizes or reply.status != 200:
        return reply, None
    where = parse_hub_path(segs, known)
    if where is None or where.endpoint is not Endpoint.TREE:
        return reply, None
    return _announce_sizes(where.repo_id, reply, faults)


def _announce_sizes(repo_id: str, reply: Reply, faults: Faults) -> tuple[Reply, str | None]:
    """The tree listing with the sizes ``announced_sizes`` gives (the bytes stay the same)."""
    entries = json.loads(bytes(reply.body))
    changed = False
    for entry in entries:
        size = faults.announced_sizes.get(f"{repo_id}/{entry.get('path')}")
        if size is None or entry.get("type") != "file":
            continue
        entry["size"] = size
        if isinstance(entry.get("lfs"), dict):
            entry["lfs"]["size"] = size
        changed = True
    if not changed:
        return reply, None
    body = json.dumps(entries).encode()
    headers = [(k, b"%d" % len(body) if k == b"content-length" else v) for k, v in reply.headers]
    return reply._replace(body=body, headers=headers), "announced_size"
