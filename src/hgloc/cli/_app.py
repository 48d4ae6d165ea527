"""The ``hgloc`` command group: global options, logging, and errors as one line plus an exit code.

Exit codes: 0 success, 1 a model failed or the thing asked for is not there,
2 bad usage or bad input (click's own usage errors are 2 as well).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hgloc.cli._output import one_line

if TYPE_CHECKING:
    from hgloc.config import Config

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BadInputError",
    "CliError",
    "HglocGroup",
    "Settings",
    "cli",
    "error_for",
    "model_errors",
    "pass_settings",
    "prog_name",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(click.ClickException):
    """A failure shown as one ``Error: ...`` line on stderr; exit code 1."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class BadInputError(CliError):
    """Input that cannot work (a bad id, an unreadable list): exit code 2, nothing touched."""

    exit_code = EXIT_USAGE


def error_for(exc: BaseException, model: object = None) -> CliError:
    """The one-line error (and exit code) for an exception raised under a command.

    ``model`` (an id or ref) is prefixed when the message does not name it already.
    """
    from hgloc._aio import first_error
    from hgloc.errors import HglocError

    exc = first_error(exc)
    message = one_line(str(exc)) or type(exc).__name__
    if model is not None and str(model).partition("@")[0] not in message:
        message = f"{model}: {message}"
    if isinstance(exc, ValueError):  # bad ids, revisions, keys, concurrency: the input's fault
        return BadInputError(message)
    if isinstance(exc, HglocError | OSError):
        return CliError(message)
    return CliError(
        f"unexpected {type(exc).__name__}: {message} (run with --debug for the traceback)"
    )


@contextlib.contextmanager
def model_errors(model: object) -> Iterator[None]:
    """Turn hgloc's errors under this block into one line naming ``model``."""
    from hgloc.errors import HglocError

    try:
        yield
    except (HglocError, ValueError, OSError, ExceptionGroup) as exc:
        raise error_for(exc, model) from exc


@dataclass(frozen=True)
class Settings:
    """The group's global options, handed to every command."""

    store: Path | None = None
    debug: bool = False
    quiet: bool = False

    def config(self) -> Config:
        """The configuration: ``HGLOC_*`` variables, with ``--store`` on top."""
        from hgloc.config import Config

        if self.store is None:
            return Config.from_env()
        return Config.from_env(models_store_path=self.store)


pass_settings = click.make_pass_decorator(Settings, ensure=True)


def prog_name() -> str:
    """How the user called us (``hgloc``, ``python -m hg_localization.cli``), for hints."""
    ctx = click.get_current_context(silent=True)
    name = ctx.find_root().info_name if ctx is not None else None
    return name or "hgloc"


class HglocGroup(click.Group):
    """A group that shows any error of a command as one line, with a traceback under --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, EOFError, KeyboardInterrupt):
            raise  # click's main loop reports these itself
        except click.ClickException as exc:
            if _debug(ctx) and exc.__cause__ is not None:
                _print_traceback(exc.__cause__)
            raise
        except Exception as exc:
            from hgloc._aio import first_error

            leaf = first_error(exc)
            if isinstance(leaf, BrokenPipeError):
                raise leaf from None  # `hgloc ... | head`: click exits quietly on EPIPE
            if _debug(ctx):
                _print_traceback(exc)
            raise error_for(exc) from exc


def _debug(ctx: click.Context) -> bool:
    settings = ctx.find_object(Settings)
    return settings is not None and settings.debug


def _print_traceback(exc: BaseException) -> None:
    click.echo("".join(traceback.format_exception(exc)), err=True, nl=False)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (CliRunner swaps it per call)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:
            self.handleError(record)


def _setup_logging(ctx: click.Context, *, debug: bool, quiet: bool) -> None:
    """Log to stderr for this invocation only; undone when the command ends."""
    handler = _StderrHandler()
    if debug:
        logger = logging.getLogger()  # everything, including the HTTP client
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        level = logging.DEBUG
    else:
        logger = logging.getLogger("hgloc")
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        level = logging.ERROR if quiet else logging.WARNING
    previous, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    if not debug:
        logger.propagate = False  # the handler above already shows it; no lastResort copy

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        logger.propagate = propagate

    ctx.call_on_close(restore)


def _version() -> str:
    from hgloc._version import __version__

    return __version__


@click.group(
    cls=HglocGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local store folder (overrides HGLOC_MODELS_STORE_PATH).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and DEBUG logging on stderr.")
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress and no summaries; errors still go to stderr."
)
@click.version_option(_version(), "--version", prog_name="hgloc", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, store: Path | None, debug: bool, quiet: bool) -> None:
    """Localize Hugging Face models: cache model cards and config.json in a store you control.

    The Hub is HF_ENDPOINT (default https://huggingface.co), with HF_TOKEN or
    the token of `hf auth login`; HF_HUB_OFFLINE=1 forbids any request. The
    store is --store, else HGLOC_MODELS_STORE_PATH, else the user cache folder.

    \b
    Examples:
      hgloc download-model google-bert/bert-base-uncased
      hgloc prefetch -f models.txt --concurrency 32
      hgloc --store ./models list-local-models
      python -m hg_localization.cli show-model-config openai-community/gpt2
    """
    ctx.obj = Settings(store=store, debug=debug, quiet=quiet)
    _setup_logging(ctx, debug=debug, quiet=quiet)
    if debug:
        logging.getLogger("hgloc").debug("hgloc %s, python %s", _version(), sys.version.split()[0])
