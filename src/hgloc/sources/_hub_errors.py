"""Error answers from the Hub, raised as the exceptions users catch, with what to do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

from hgloc.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HubError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from hgloc.sources._http import Response
from hgloc.sources._hub_protocol import HubErrorKind

__all__ = ["raise_hub_error"]


def raise_hub_error(
    kind: HubErrorKind,
    *,
    status: int,
    headers: Mapping[str, str],
    response: Response,
    what: str,
    repo_id: str,
    revision: str | None,
    endpoint: str,
) -> NoReturn:
    """Raise the hgloc error for a non-transient error answer of ``kind``."""
    server = headers.get("x-error-message", "")
    suffix = f" (Hub said: {server})" if server else ""
    if kind is HubErrorKind.GATED:
        raise GatedRepoError(
            f"{repo_id!r} is a gated model: accept its terms at {endpoint}/{repo_id} and set "
            f"HF_TOKEN to a token of the account that was granted access{suffix}",
            response=response,
        )
    if kind is HubErrorKind.REPO_NOT_FOUND:
        raise RepositoryNotFoundError(
            f"model {repo_id!r} was not found on {endpoint}: check the id; if it is private, "
            f"set HF_TOKEN to a token that can read it{suffix}",
            response=response,
        )
    if kind is HubErrorKind.REVISION_NOT_FOUND:
        raise RevisionNotFoundError(
            f"revision {revision!r} does not exist in {repo_id!r}: use a branch, tag or "
            f"commit of that repo{suffix}",
            response=response,
        )
    if kind is HubErrorKind.ENTRY_NOT_FOUND:
        raise EntryNotFoundError(f"{what} does not exist{suffix}", response=response)
    raise HubError(f"the Hub answered HTTP {status} for {what}{suffix}")
