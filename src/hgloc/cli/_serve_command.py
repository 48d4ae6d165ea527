"""``hgloc serve``: the store as a Hugging Face Hub endpoint.

The server (and uvicorn) is imported inside the command, so ``--help`` stays light.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from hgloc.cli._app import BadInputError, CliError, Settings, pass_settings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "register"]

# Kept equal to hgloc.serve's defaults (a test checks), without importing it for --help.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def register(group: click.Group) -> None:
    """Add ``serve`` to ``group``."""
    group.add_command(serve)


@click.command("serve")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local store folder to serve (default: the global --store, "
    "HGLOC_MODELS_STORE_PATH, or the user cache folder).",
)
@click.option(
    "--s3",
    "use_s3",
    is_flag=True,
    help="Serve the team bucket (HGLOC_S3_BUCKET_NAME, HGLOC_S3_ENDPOINT_URL, HGLOC_AWS_*) "
    "instead of a local folder.",
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on. Loopback unless you say otherwise; 0.0.0.0 exposes the "
    "store to the network (use --token).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--upstream",
    metavar="URL",
    help="Pull-through cache: fetch what the store lacks from this Hub (e.g. "
    "https://huggingface.co, with HF_TOKEN), store it, then serve it. Off by default: "
    "the server makes no request at all.",
)
@click.option(
    "--token",
    envvar="HGLOC_SERVE_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="Answer only clients that send this bearer token (they set HF_TOKEN to it). With "
    "--upstream, these clients may read gated and private repos too.",
)
@click.option(
    "--check-client-tokens",
    is_flag=True,
    help="With --upstream (and no --token): serve a gated or private repo to a client whose "
    "own Hub token the upstream accepts for it. Without this or --token, gated and private "
    "repos are refused to every client.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    envvar="HGLOC_SERVE_WORKERS",
    help="Worker processes sharing the port (each opens the store itself). One is enough "
    "for a few clients; use about one per CPU core for many.",
)
@click.option(
    "--redirect-to-bucket",
    is_flag=True,
    help="With --s3: answer LFS files (weights) with a 302 to a presigned S3 URL, as the Hub "
    "redirects to its CDN; the bytes never pass through this server. Clients need to reach "
    "the bucket's endpoint.",
)
@pass_settings
def serve(
    settings: Settings,
    store: Path | None,
    use_s3: bool,
    host: str,
    port: int,
    upstream: str | None,
    token: str | None,
    check_client_tokens: bool,
    workers: int,
    redirect_to_bucket: bool,
) -> None:
    """Serve the store as a Hugging Face Hub: clients only set HF_ENDPOINT.

    huggingface_hub (hf_hub_download, snapshot_download, model_info,
    ModelCard.load) and transformers (AutoConfig, AutoModel, AutoTokenizer)
    get the stored files, by branch, tag or commit, as from the Hub. A model
    the store holds as metadata only answers for its card and config. Read
    only; the page at / lists what is served. Stop with Ctrl-C.

    \b
    Examples:
      hgloc serve --store /srv/models
      HF_ENDPOINT=http://127.0.0.1:8080 python train.py   # in another shell
      hgloc serve --s3 --host 0.0.0.0 --token "$SERVE_TOKEN"
      hgloc serve --upstream https://huggingface.co
      hgloc serve --s3 --upstream https://huggingface.co --workers 4   # one of N replicas
    """
    from hgloc.errors import HglocError, MissingExtraError

    if store is not None and use_s3:
        raise BadInputError("--store and --s3 name two stores; give one")
    if upstream is not None and not upstream.startswith(("http://", "https://")):
        raise BadInputError(f"--upstream must be an http(s) URL, got {upstream!r}")
    if redirect_to_bucket and not use_s3:
        raise BadInputError("--redirect-to-bucket needs --s3: only a bucket can presign URLs")
    if token is not None and not token.strip():
        raise BadInputError("--token is empty; give a token or leave it out")
    if check_client_tokens and upstream is None:
        raise BadInputError("--check-client-tokens checks tokens with the upstream: add --upstream")
    if check_client_tokens and token is not None:
        raise BadInputError(
            "--check-client-tokens and --token exclude each other: a client sends one token"
        )
    config = (settings if store is None else Settings(store=store)).config()
    if use_s3 and not config.has_bucket:
        raise BadInputError(
            "--s3 serves the team bucket, and none is configured: set HGLOC_S3_BUCKET_NAME "
            "(and HGLOC_S3_ENDPOINT_URL for an S3-compatible store that is not AWS)"
        )
    try:
        from hgloc.serve import is_loopback
        from hgloc.serve import serve as run_server
    except MissingExtraError as exc:
        raise CliError(str(exc)) from exc
    if not is_loopback(host) and token is None:
        click.echo(
            f"Warning: --host {host} lets anyone who reaches this machine read the store; "
            "set --token (or HGLOC_SERVE_TOKEN) to require one",
            err=True,
        )
    where = (
        f"s3://{config.s3_bucket_name}/{config.s3_data_prefix}".rstrip("/")
        if use_s3
        else str(config.store_path)
    )

    def ready(url: str) -> None:
        if settings.quiet:
            return
        pull = f", fetching misses from {upstream}" if upstream else ""
        click.echo(f"Serving {where} at {url}{pull}", err=True)
        auth = " HF_TOKEN=<the token>" if token else ""
        click.echo(f"Clients: export HF_ENDPOINT={url}{auth}", err=True)
        click.echo(f"What is served: open {url}/ in a browser", err=True)

    level = "debug" if settings.debug else "warning" if settings.quiet else "info"
    # What the server fetches upstream is news for the operator, like uvicorn's access log.
    serve_logger = logging.getLogger("hgloc.serve")
    previous = serve_logger.level
    if not settings.quiet and not settings.debug:
        serve_logger.setLevel(logging.INFO)
    try:
        run_server(
            config,
            host=host,
            port=port,
            s3=use_s3,
            upstream=upstream,
            token=token,
            check_client_tokens=check_client_tokens,
            log_level=level,
            on_ready=ready,
            workers=workers,
            redirect_to_bucket=redirect_to_bucket,
        )
    except KeyboardInterrupt:  # Ctrl-C: uvicorn shut down cleanly, then re-raised it
        return
    except HglocError as exc:  # before OSError: some of hgloc's errors are OSErrors
        raise CliError(str(exc)) from exc
    except OSError as exc:  # the address is taken, or not ours to bind
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    finally:
        serve_logger.setLevel(previous)
