"""The Hugging Face Hub adapter: one façade over the request, file and repo-API modules."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazy re-export

from hgloc.errors import OfflineModeError
from hgloc.sources._files import DEFAULT_MAX_BYTES, HubFile, fetch_file
from hgloc.sources._http import make_client
from hgloc.sources._pacing import RatePacer
from hgloc.sources._refs import HubRefs, list_refs
from hgloc.sources._repo_api import commit_of, list_tree, model_info
from hgloc.sources._requests import HubSession, RetryPolicy
from hgloc.sources._streaming import FileStreamer, MinRate
from hgloc.sources._tree import TreeEntry

__all__ = ["HubFile", "HuggingFaceSource", "MinRate", "RetryPolicy"]


class HuggingFaceSource:
    """Talks to one Hub endpoint with one connection pool.

    ``token`` means what it means to ``huggingface_hub.utils.build_hf_headers``:
    a string is sent; ``False`` sends none; ``True`` sends the machine's token
    (``HF_TOKEN`` or the ``hf auth login`` file); ``None`` sends the machine's
    token unless ``HF_HUB_DISABLE_IMPLICIT_TOKEN`` is set. Credentials go only
    to the endpoint's own host; redirects elsewhere (the CDN for LFS files) are
    followed without them. Every answer's ``RateLimit`` header feeds a shared
    :class:`RatePacer`. ``user_agent`` is the calling library's ``name/version``.

    ``timeout`` bounds each small request as a whole, from the first byte sent
    to the last received (and each read of a big file); ``min_rate`` is the
    slowest a big file's bytes may come (see :class:`MinRate`).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        token: str | bool | None = None,
        offline: bool = False,
        concurrency: int = 64,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str = "hgloc",
        min_rate: MinRate | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.offline = offline
        self.retry = retry or RetryPolicy()
        self.pacer = RatePacer(low_water=max(16, concurrency))
        self._session: HubSession | None = None
        self._streamer: FileStreamer | None = None
        if offline:
            return  # no client, and no token lookup
        name, _, version = user_agent.partition("/")
        headers = build_hf_headers(token=token, library_name=name, library_version=version or None)
        auth = {"authorization": headers.pop("authorization")} if "authorization" in headers else {}
        self._session = HubSession(
            endpoint=self.endpoint,
            client=make_client(connections=max(4, concurrency), timeout=timeout),
            headers={**headers, "accept-encoding": "identity"},
            auth=auth,
            retry=self.retry,
            pacer=self.pacer,
            deadline=timeout,
        )
        self._streamer = FileStreamer(self._session, min_rate)

    def __repr__(self) -> str:  # never show the token
        return f"HuggingFaceSource(endpoint={self.endpoint!r}, offline={self.offline})"

    async def aclose(self) -> None:
        """Close the connections."""
        if self._session is not None:
            await self._session.aclose()

    def _online(self, what: str) -> HubSession:
        if self._session is None:
            raise OfflineModeError(
                f"cannot fetch {what}: offline mode is on (HF_HUB_OFFLINE is set); "
                "unset it to reach the Hub, or use models already in the store"
            )
        return self._session

    async def fetch(
        self, repo_id: str, revision: str, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> HubFile:
        """Download one file into memory, verified against the Hub's hash.

        Raises ``EntryNotFoundError`` when the repo has no such file.
        """
        session = self._online(f"{path} of {repo_id}@{revision}")
        return await fetch_file(session, repo_id, revision, path, max_bytes=max_bytes)

    async def model_info(self, repo_id: str, revision: str | None = None) -> dict[str, Any]:
        """The Hub's model info JSON (``sha`` is the commit ``revision`` points to)."""
        return await model_info(self._online(f"model info of {repo_id}"), repo_id, revision)

    async def commit_of(self, repo_id: str, revision: str | None) -> str:
        """The commit ``revision`` resolves to now: one cheap API call."""
        return await commit_of(self._online(f"model info of {repo_id}"), repo_id, revision)

    async def list_refs(self, repo_id: str) -> HubRefs:
        """The repo's branches and tags, each with the commit it points at now."""
        return await list_refs(self._online(f"the refs of {repo_id}"), repo_id)

    async def list_tree(self, repo_id: str, revision: str) -> list[TreeEntry]:
        """Every file of the repo at ``revision``, following the listing's pages.

        Paths are returned as the Hub sent them: validate them before use.
        """
        session = self._online(f"the file list of {repo_id}@{revision}")
        return await list_tree(session, repo_id, revision)

    async def stream(
        self,
        repo_id: str,
        revision: str,
        path: str,
        *,
        start: int = 0,
        end: int | None = None,
        size: int | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield bytes ``[start, end)`` of a file (``end=None``: to its end), as they arrive.

        Uses ``Range`` unless the whole file is asked for. A dropped connection,
        a short body, a 5xx or a 429 is retried by asking for the bytes after the
        last one received, so nothing is fetched twice; the retry budget is spent
        only by attempts that bring no new byte. ``size``, when known (from the
        file list), is checked against what the Hub announces. Nothing is hashed
        here: the caller verifies the whole file.

        Use it inside ``contextlib.aclosing`` so a consumer that stops early
        closes the connection at once.
        """
        if self._streamer is None:
            raise OfflineModeError(
                f"cannot fetch {path} of {repo_id}: offline mode is on (HF_HUB_OFFLINE=1 or "
                "skip_hf_fetch); unset it to reach the Hub, or use models already in the store"
            )
        chunks = self._streamer.stream(repo_id, revision, path, start=start, end=end, size=size)
        async with contextlib.aclosing(chunks):  # a consumer that stops closes the connection
            async for chunk in chunks:
                yield chunk
