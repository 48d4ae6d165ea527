"""What several commands accept alike: a model ref, and the --full-model options."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hgloc.cli._app import BadInputError, model_errors

if TYPE_CHECKING:
    from hgloc.localize import ModelRef

__all__ = [
    "REVISION_HELP",
    "full_model_options",
    "full_model_patterns",
    "model_list_options",
    "parse_ref",
]

REVISION_HELP = "Branch, tag or commit (default: the repo's default branch)."

_F = TypeVar("_F", bound=Callable[..., Any])


def parse_ref(model_id: str, revision: str | None) -> ModelRef:
    """``org/name`` or ``org/name@rev`` plus ``--revision``, validated; exit 2 when bad."""
    from hgloc.localize import parse_model_ref

    text = model_id.strip()
    if "@" in text and revision is not None:
        raise BadInputError(
            f"{model_id!r} names a revision and --revision gives another; give it once"
        )
    with model_errors(model_id):
        return parse_model_ref(text, revision)


def _stacked(options: tuple[Callable[[_F], _F], ...]) -> Callable[[_F], _F]:
    def decorate(command: _F) -> _F:
        for option in reversed(options):  # so that --help lists them in the order given
            command = option(command)
        return command

    return decorate


def model_list_options(*, revision: bool = True) -> Callable[[_F], _F]:
    """``-f/--file FILE`` (ids one a line, ``-`` for stdin) and, unless told not to,
    ``-r/--revision``: how every command that takes many models reads them."""
    options: tuple[Callable[[_F], _F], ...] = (
        click.option(
            "-f",
            "--file",
            "files",
            multiple=True,
            metavar="FILE",
            help="Read ids from FILE ('-': stdin): one a line, id@revision allowed, '#' comments.",
        ),
    )
    if revision:
        options += (
            click.option("-r", "--revision", help="Revision for the ids that do not name one."),
        )
    return _stacked(options)


def full_model_options(what: str) -> Callable[[_F], _F]:
    """``--full-model``, ``--include GLOB`` and ``--exclude GLOB``, for download-model and prefetch.

    ``what`` names the thing downloaded in the help (``the repo``, ``each repo``).
    """
    options = (
        click.option(
            "--full-model",
            is_flag=True,
            help=f"Store every file of {what} (weights, tokenizer...), not only card and config.",
        ),
        click.option(
            "--include",
            multiple=True,
            metavar="GLOB",
            help="With --full-model: only the files matching GLOB (repeatable; '*' crosses '/').",
        ),
        click.option(
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="With --full-model: leave out the files matching GLOB (repeatable).",
        ),
    )
    return _stacked(options)


def full_model_patterns(
    full_model: bool, include: tuple[str, ...], exclude: tuple[str, ...]
) -> tuple[list[str] | None, list[str] | None]:
    """``(allow_patterns, ignore_patterns)`` for the core; exit 2 if given without --full-model.

    Without --full-model only the card and config are fetched, so a pattern would be
    silently ignored: refuse it rather than let the user believe the files were chosen.
    """
    if (include or exclude) and not full_model:
        given = "--include" if include else "--exclude"
        raise BadInputError(
            f"{given} narrows a --full-model download; add --full-model "
            "(without it only the card and config.json are fetched)"
        )
    return list(include) or None, list(exclude) or None
