"""Who may read what through a pull-through server: gated and private repos stay protected.

The operator's ``HF_TOKEN`` may fetch gated and private repos upstream; the
server must not hand them to anyone who asks. So, with ``--upstream``:

- a repo's visibility (public, gated, private) is what the upstream's model
  info says to the operator's token, remembered for a while;
- a public repo is served to every client (that passed ``--token``, if set);
- a gated or private one only to a client the server trusts: every client
  when the server has its own ``--token`` (the operator vouches for them), or,
  with ``check_client_tokens``, a client whose own Hub token the upstream's
  ``auth-check`` accepts for that repo (the verdict is remembered briefly).
  Anyone else gets the Hub's ``401`` (``403``/``404`` for a token that was
  refused). A gated repo's card and licence stay readable, as on the Hub.

Without ``--upstream`` the server serves what the operator put in the store,
to every client that passed ``--token``: there is no upstream to ask.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from typing import TYPE_CHECKING

import anyio
import attrs
import httpx2

from hgloc.errors import HubUnavailableError, RepositoryNotFoundError
from hgloc.hub_wire import Gated

if TYPE_CHECKING:
    from hgloc.localize import Localizer

__all__ = ["UNGATED_PATHS", "Access", "Refusal", "Visibility"]

logger = logging.getLogger("hgloc.serve")

# The Hub keeps these readable in gated repos: users read the terms before asking.
UNGATED_PATHS = frozenset({"README.md", "LICENSE", "LICENSE.md", "LICENSE.txt", ".gitattributes"})
_MEMORY = 4096


@attrs.frozen
class Visibility:
    """The upstream says: ``private``, ``gated`` (``False``, ``auto``, ``manual``)."""

    private: bool = False
    gated: Gated = False

    @property
    def protected(self) -> bool:
        return self.private or self.gated is not False


PUBLIC = Visibility()


class Refusal(enum.Enum):
    """Why a client may not read a repo (the app maps each to the Hub's answer)."""

    GATED_NO_TOKEN = "gated, no token"  # 401 GatedRepo
    GATED_REFUSED = "gated, token refused"  # 403 GatedRepo
    PRIVATE_NO_TOKEN = "private, no token"  # 401 RepoNotFound
    PRIVATE_REFUSED = "private, token refused"  # 404 RepoNotFound


class Access:
    """Decides, per request, whether a client may read a repo through the pull-through.

    ``trusted``: every client is trusted (the server checks its own token).
    ``check_client_tokens``: ask the upstream whether a client's token may read
    the repo. ``seconds``: how long visibility is remembered; client verdicts
    are kept ``verdict_seconds``.
    """

    def __init__(
        self,
        localizer: Localizer,
        *,
        trusted: bool = False,
        check_client_tokens: bool = False,
        seconds: float = 600.0,
        verdict_seconds: float = 60.0,
    ) -> None:
        self.localizer = localizer
        self.trusted = trusted
        self.check_client_tokens = check_client_tokens
        self.seconds = seconds
        self.verdict_seconds = verdict_seconds
        self.absent_seconds = 5.0
        self._seen: dict[str, tuple[float, Visibility]] = {}
        self._absent: dict[str, tuple[float, RepositoryNotFoundError]] = {}
        self._asking: dict[str, anyio.Lock] = {}
        self._verdicts: dict[tuple[bytes, str], tuple[float, bool]] = {}
        self._http: httpx2.AsyncClient | None = None

    async def visibility(self, repo_id: str) -> Visibility:
        """The repo's visibility upstream (a stale answer when the upstream is down).

        Raises :class:`~hgloc.errors.HubUnavailableError` when the upstream
        cannot be asked and nothing is known yet (the server then refuses
        rather than guess), and :class:`~hgloc.errors.RepositoryNotFoundError`
        when the upstream does not show the repo to the operator.
        """
        known = self._seen.get(repo_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        lock = self._asking.setdefault(repo_id, anyio.Lock())
        try:
            async with lock:  # a burst of requests for one repo asks the upstream once
                return await self._ask(repo_id)
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._asking.pop(repo_id, None)

    async def _ask(self, repo_id: str) -> Visibility:
        known = self._seen.get(repo_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        absent = self._absent.get(repo_id)
        if absent is not None and absent[0] > time.monotonic():
            raise absent[1]
        try:
            info = await self.localizer.source.model_info(repo_id)
        except RepositoryNotFoundError as exc:
            # Gone, or hidden from the operator too: nothing is served (the Hub's 404),
            # and the answer is remembered a few seconds, as pull-through's other misses.
            if len(self._absent) >= _MEMORY:
                self._absent.clear()
            self._absent[repo_id] = (time.monotonic() + self.absent_seconds, exc)
            raise
        except HubUnavailableError:
            if known is not None:
                return known[1]
            raise
        else:
            gated = info.get("gated", False)
            seen = Visibility(
                private=bool(info.get("private", False)),
                gated=gated if gated in ("auto", "manual") else False,
            )
        if len(self._seen) >= _MEMORY:
            self._seen.clear()
        self._seen[repo_id] = (time.monotonic() + self.seconds, seen)
        return seen

    async def refusal(self, repo_id: str, path: str | None, token: str | None) -> Refusal | None:
        """Why this client may not read ``path`` of ``repo_id`` (``None``: any file of it,
        as model info and listings); ``None`` when it may."""
        if self.trusted:
            return None
        seen = await self.visibility(repo_id)
        if not seen.protected or (not seen.private and path is not None and path in UNGATED_PATHS):
            return None
        if not seen.private and path is None:
            return None  # a gated repo's model info, tree and refs are public on the Hub too
        if (
            token is not None
            and self.check_client_tokens
            and await self._upstream_allows(repo_id, token)
        ):
            return None
        if seen.private:
            return Refusal.PRIVATE_NO_TOKEN if token is None else Refusal.PRIVATE_REFUSED
        return Refusal.GATED_NO_TOKEN if token is None else Refusal.GATED_REFUSED

    async def _upstream_allows(self, repo_id: str, token: str) -> bool:
        key = (hashlib.sha256(token.encode()).digest(), repo_id)  # never the token itself
        known = self._verdicts.get(key)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        url = f"{self.localizer.config.endpoint}/api/models/{repo_id}/auth-check"
        if self._http is None:
            self._http = httpx2.AsyncClient(timeout=self.localizer.config.request_timeout)
        try:
            answer = await self._http.get(url, headers={"authorization": f"Bearer {token}"})
        except httpx2.HTTPError as exc:
            logger.warning("cannot check a client's token for %s: %s", repo_id, type(exc).__name__)
            return False  # not remembered: asked again next time
        allowed = answer.status_code == 200
        if len(self._verdicts) >= _MEMORY:
            self._verdicts.clear()
        self._verdicts[key] = (time.monotonic() + self.verdict_seconds, allowed)
        return allowed

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
