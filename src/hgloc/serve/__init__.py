"""``hgloc serve``: the store as a Hugging Face Hub endpoint.

huggingface_hub and transformers work unchanged where the Hub is out of reach;
clients only set ``HF_ENDPOINT``::

    hgloc serve --store /srv/models
    HF_ENDPOINT=http://127.0.0.1:8080 python train.py

:func:`create_app` builds the ASGI app (a Starlette app: any ASGI server
runs it); :func:`serve` runs it on uvicorn. Both need the ``serve`` extra
(``pip install 'hgloc[serve]'``). Nothing here imports Starlette or uvicorn
until :func:`create_app` or :func:`serve` is called.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from hgloc.backends import StorageBackend
from hgloc.config import Config
from hgloc.errors import MissingExtraError
from hgloc.serve._uvicorn import bind, http_impl, load_uvicorn

if TYPE_CHECKING:
    from hgloc.serve._app import HubServer

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "HubServer",
    "bind",
    "create_app",
    "http_impl",
    "is_loopback",
    "load_uvicorn",
    "serve",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

_NEEDS_EXTRA = "hgloc serve needs the 'serve' extra: pip install 'hgloc[serve]'"


def __getattr__(name: str) -> Any:
    if name == "HubServer":  # imported on first use: Starlette is the serve extra's
        return _app_module().HubServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _app_module() -> Any:
    try:
        from hgloc.serve import _app
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "starlette":
            raise MissingExtraError(_NEEDS_EXTRA) from exc
        raise
    _app.HubServer.__module__ = __name__
    return _app


def create_app(
    config: Config | None = None,
    *,
    store: StorageBackend | None = None,
    s3: bool = False,
    upstream: str | None = None,
    token: str | None = None,
    check_client_tokens: bool = False,
    cache_seconds: float = 2.0,
    redirect_to_bucket: bool = False,
) -> HubServer:
    """The ASGI app answering the Hub protocol from a store.

    - ``config``: where the store and the bucket are (default: ``Config.from_env()``).
    - ``store``: a backend to serve instead of ``config``'s local folder.
    - ``s3``: serve the team bucket (``config.s3_bucket_name``) instead.
    - ``upstream``: a Hub URL; a model the store lacks is fetched from it,
      stored, then served. Without it the server never makes a request to a Hub.
    - ``token``: clients must send ``Authorization: Bearer <token>``. With
      ``upstream``, these clients may also read gated and private repos.
    - ``check_client_tokens``: with ``upstream`` and no ``token``, a client may
      read a gated or private repo when the upstream accepts the client's own
      Hub token for it (``/api/models/{id}/auth-check``). Without either, gated
      and private repos are refused to every client.
    - ``cache_seconds``: how long a lookup in the store is reused.
    - ``redirect_to_bucket``: with ``s3``, answer LFS files with a ``302`` to a
      presigned URL of their object (as the Hub redirects to its CDN): the bytes
      go from the bucket to the client, never through the server.

    >>> app = create_app(Config(models_store_path="/srv/models"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    from hgloc.localize import Localizer
    from hgloc.serve._access import Access
    from hgloc.serve._service import Service

    app_module = _app_module()
    base = config if config is not None else Config.from_env()
    if upstream:
        settings = attrs.evolve(base, hf_endpoint=upstream.rstrip("/"), offline=False)
    else:
        settings = attrs.evolve(base, offline=True)  # a plain server never talks to a Hub
    if token and check_client_tokens:
        raise ValueError(
            "token and check_client_tokens exclude each other: a client sends one bearer "
            "token, this server's or its Hub token"
        )
    if check_client_tokens and not upstream:
        raise ValueError("check_client_tokens needs an upstream to check the tokens with")
    if redirect_to_bucket and not s3:
        raise ValueError("redirect_to_bucket=True needs s3=True: only a bucket can presign URLs")
    if s3 and not settings.has_bucket:
        raise ValueError("s3=True needs a bucket: set HGLOC_S3_BUCKET_NAME (s3_bucket_name)")
    localizer = Localizer(settings, backend=store)
    access = (
        Access(localizer, trusted=bool(token), check_client_tokens=check_client_tokens)
        if upstream
        else None
    )
    service = Service(
        localizer,
        s3=s3,
        upstream=bool(upstream),
        cache_seconds=cache_seconds,
        access=access,
        redirect_to_bucket=redirect_to_bucket,
    )
    server: HubServer = app_module.HubServer(service, token=token)
    return server


def _worker_app() -> HubServer:
    """One worker's app under ``serve(workers=N)`` (uvicorn's factory, in a fresh process)."""
    from hgloc.serve._workers import worker_settings

    config, options = worker_settings()
    return create_app(config, **options)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server to this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    config: Config | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    s3: bool = False,
    upstream: str | None = None,
    token: str | None = None,
    check_client_tokens: bool = False,
    log_level: str = "info",
    on_ready: Callable[[str], object] | None = None,
    workers: int = 1,
    redirect_to_bucket: bool = False,
) -> None:
    """Serve the store on ``host:port``; blocks until Ctrl-C (or SIGTERM).

    Binds loopback unless told otherwise. ``on_ready(url)`` is called once the
    store is open and the server accepts connections (``port=0`` picks a free
    port: the URL has it). Raises ``OSError`` when the address is taken, and
    the store's error when it cannot be opened (a bucket that cannot be
    reached, or no credentials for it). After Ctrl-C the server shuts down
    gracefully, then uvicorn raises ``KeyboardInterrupt`` again.

    ``workers > 1`` runs that many worker processes on the one socket (each
    opens the store itself; see :mod:`hgloc.serve._workers`).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    uvicorn = load_uvicorn(_NEEDS_EXTRA)
    app = create_app(
        config,
        s3=s3,
        upstream=upstream,
        token=token,
        check_client_tokens=check_client_tokens,
        redirect_to_bucket=redirect_to_bucket,
    )
    if s3:
        anyio.run(_check_bucket, app.service.localizer.config)
    sock = bind(host, port)
    try:
        sock.listen(2048)  # before on_ready announces the URL: early clients wait, not fail
        bound = sock.getsockname()[1]
        url = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
        app.on_ready = (lambda: on_ready(url)) if on_ready is not None else None
        options: dict[str, Any] = {
            "lifespan": "on",
            "log_level": log_level,
            "access_log": log_level in ("info", "debug", "trace"),
            "server_header": False,
            "http": http_impl(),
            "ws": "none",
            "interface": "asgi3",
            "timeout_graceful_shutdown": 5,
        }
        if workers > 1:
            from hgloc.serve._workers import run_workers

            app_options = {
                "s3": s3,
                "upstream": upstream,
                "token": token,
                "check_client_tokens": check_client_tokens,
                "redirect_to_bucket": redirect_to_bucket,
            }
            run_workers(uvicorn, sock, workers, app.service.localizer.config, app_options,
                        options, app.on_ready)  # fmt: skip
            return
        server = uvicorn.Server(uvicorn.Config(app, **options))
        try:
            server.run(sockets=[sock])
        except SystemExit:  # uvicorn exits when the lifespan startup fails
            if app.startup_failure is not None:
                raise app.startup_failure from None
            raise
        if app.startup_failure is not None:
            raise app.startup_failure
    finally:
        sock.close()


async def _check_bucket(config: Config) -> None:
    """Fail before listening when the bucket cannot be served (no credentials, no bucket).

    A throwaway localizer on its own event loop: the server's S3 client must
    belong to the server's loop.
    """
    from hgloc.errors import StorePermissionError
    from hgloc.localize import Localizer

    async with Localizer(config) as loc:
        tier = await loc.bucket()
        if tier is None:
            raise StorePermissionError(
                "serving the bucket needs AWS credentials: set HGLOC_AWS_ACCESS_KEY_ID and "
                "HGLOC_AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / AWS_ACCESS_KEY_ID)"
            )
        async for _ in tier.backend.list(tier.folder("x", None).split("/")[0]):
            break  # one listing request: the bucket exists and we may read it
