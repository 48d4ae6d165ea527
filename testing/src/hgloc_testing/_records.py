"""What the Hub emulator is told about its clients: grants, request records, dropped connections."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import attrs

from ._repos import Repo

__all__ = ["ConnectionDropped", "Grant", "RequestRecord", "as_grant"]


class ConnectionDropped(Exception):
    """Raised inside the app to make uvicorn abort a connection mid-body (a fault)."""


def _frozen(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class Grant:
    """What a token may see: repos named in ``repos``, and every repo of ``user``'s namespace.

    Applies to private repos (otherwise invisible) and gated repos (otherwise
    answering GatedRepo).
    """

    user: str | None = None
    repos: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen)

    def allows(self, repo: Repo) -> bool:
        return repo.repo_id in self.repos or (self.user is not None and repo.namespace == self.user)


def as_grant(value: str | Collection[str] | Grant) -> Grant:
    if isinstance(value, Grant):
        return value
    if isinstance(value, str):
        return Grant(user=value)
    return Grant(repos=frozenset(value))


@attrs.frozen
class RequestRecord:
    """One request the emulator answered.

    ``headers`` holds the request's ``authorization``, ``range``, ``accept-encoding``
    and ``user-agent`` when sent. ``fault`` names the injected fault, if any
    (``"fail_all"``, ``"error"``, ``"rate_limit"``, ``"drop"``, ``"corrupt"``,
    ``"oversize"``).
    """

    method: str
    path: str
    query: str
    host: str
    headers: Mapping[str, str]
    status: int
    fault: str | None = None

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def has_auth(self) -> bool:
        return "authorization" in self.headers

    @property
    def is_cdn(self) -> bool:
        return self.path.startswith("/cdn/")
