"""The store as a Hub endpoint: a Starlette app answering what huggingface_hub asks.

Routes are in :mod:`hgloc.serve._routes`; what crosses every route (the token,
read-only) is middleware (:mod:`hgloc.serve._guards`); the store is opened by
the lifespan, so a bad bucket fails the start, and closed at shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from hgloc.errors import HglocError
from hgloc.serve._api_routes import API_ROUTES
from hgloc.serve._collections_routes import COLLECTION_ROUTES
from hgloc.serve._guards import NoXetHints, ReadOnly, RequireToken
from hgloc.serve._replies import internal_error, store_failure, too_much_work
from hgloc.serve._routes import ROUTES
from hgloc.serve._service import Service
from hgloc.serve._small import SmallAnswers
from hgloc.serve._work import WorkTimeoutError

__all__ = ["HubServer", "Service"]


class HubServer:
    """The ASGI app. Build it with :func:`hgloc.serve.create_app`."""

    def __init__(self, service: Service, *, token: str | None = None) -> None:
        self.service = service
        self.on_ready: Callable[[], object] | None = None
        """Called once the lifespan startup opened the store."""
        self.startup_failure: Exception | None = None
        """Why the lifespan startup failed, for :func:`~hgloc.serve.serve` to raise."""
        middleware = [Middleware(NoXetHints)]
        if token:
            middleware.append(Middleware(RequireToken, token=token))
        middleware.append(Middleware(ReadOnly))
        middleware.append(Middleware(SmallAnswers, service=service))  # innermost: after guards
        self._app = Starlette(
            routes=[*COLLECTION_ROUTES, *ROUTES, *API_ROUTES],
            middleware=middleware,
            lifespan=self._lifespan,
            exception_handlers={
                WorkTimeoutError: too_much_work,
                HglocError: store_failure,
                OSError: store_failure,
                Exception: internal_error,
            },
        )
        self._app.state.service = service

    @property
    def upstream_url(self) -> str | None:
        return self.service.localizer.config.endpoint if self.service.pull_through else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            await self.service.open()
        except Exception as exc:
            self.startup_failure = exc
            await self.service.aclose()
            raise
        if self.on_ready is not None:
            self.on_ready()
        try:
            yield
        finally:
            await self.service.aclose()
