"""What ``hgloc serve`` serves from: a localizer's store, or its team bucket, opened once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import anyio

from hgloc.hub_wire import MAX_PAGE
from hgloc.serve._access import Access
from hgloc.serve._catalog import BucketLayout, Catalog, LocalLayout
from hgloc.serve._upstream import Upstream
from hgloc.serve._work import off_loop, work_threads

if TYPE_CHECKING:
    from hgloc.localize import Localizer

__all__ = ["Service"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Service:
    """What the app serves from: a localizer's store (or its bucket), opened on first use.

    ``upstream``: fetch misses through the localizer, whose endpoint is the
    upstream Hub. ``s3``: serve the localizer's team bucket instead of its
    local store.
    """

    def __init__(
        self,
        localizer: Localizer,
        *,
        s3: bool = False,
        upstream: bool = False,
        cache_seconds: float = 2.0,
        access: Access | None = None,
        redirect_to_bucket: bool = False,
    ) -> None:
        self.localizer = localizer
        self.access = access
        """Who may read gated and private repos (pull-through only; ``None``: everyone)."""
        self.redirect_to_bucket = redirect_to_bucket
        """LFS files of the bucket answer 302 to a presigned URL (``--redirect-to-bucket``)."""
        self.page_size = MAX_PAGE
        """Entries per page of tree listings, commits and model listings."""
        self.s3 = s3
        self.pull_through = upstream
        self.cache_seconds = cache_seconds
        self._opened: tuple[Catalog, Upstream | None] | None = None
        self._lock = anyio.Lock()
        self._threads: anyio.CapacityLimiter | None = None

    async def work(self, func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``func`` off the event loop, on the server's few work threads, with a deadline."""
        if self._threads is None:
            self._threads = work_threads()
        return await off_loop(self._threads, func, *args, **kwargs)

    async def open(self) -> tuple[Catalog, Upstream | None]:
        """The catalog and the pull-through (``None`` without upstream); made once."""
        if self._opened is not None:
            return self._opened
        async with self._lock:
            if self._opened is None:
                if self.s3:
                    tier = await self.localizer.bucket()
                    if tier is None:
                        from hgloc.errors import StorePermissionError

                        raise StorePermissionError(
                            "serving the bucket needs AWS credentials: set "
                            "HGLOC_AWS_ACCESS_KEY_ID and HGLOC_AWS_SECRET_ACCESS_KEY "
                            "(or AWS_PROFILE / AWS_ACCESS_KEY_ID)"
                        )
                    catalog = Catalog(BucketLayout(tier), cache_seconds=self.cache_seconds)
                else:
                    catalog = Catalog(LocalLayout(self.localizer), cache_seconds=self.cache_seconds)
                upstream = (
                    Upstream(self.localizer, catalog, bucket=self.s3) if self.pull_through else None
                )
                self._opened = (catalog, upstream)
        return self._opened

    async def aclose(self) -> None:
        """Close the localizer: its HTTP client, its store and its bucket client."""
        if self.access is not None:
            await self.access.aclose()
        await self.localizer.aclose()
