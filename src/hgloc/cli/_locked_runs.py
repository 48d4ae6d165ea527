"""The ``--locked`` runs of ``prefetch`` and ``verify``, and the report ``prefetch`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

import hgloc.cli._output as _output
import hgloc.cli._progress as _progress
from hgloc.cli._app import EXIT_FAILED, BadInputError, Settings, model_errors

if TYPE_CHECKING:
    from hgloc.localize import PrefetchReport, VerifyReport
    from hgloc.lockfile import LockFile

__all__ = ["echo_prefetch_report", "locked_prefetch", "locked_verify", "read_lock"]


def read_lock(path: str) -> LockFile:
    """The lock file at ``path``; exit 2 naming what is wrong with it."""
    from hgloc.lockfile import LockFile, LockFileError

    try:
        return LockFile.read(path)
    except LockFileError as exc:
        raise BadInputError(str(exc)) from exc


def echo_prefetch_report(settings: Settings, report: PrefetchReport, *, as_json: bool) -> None:
    """What ``prefetch`` prints after a run, and its exit code (1 when a model failed)."""
    if as_json:
        _output.echo_json(report.as_dict())
    if not settings.quiet:
        click.echo(_progress.summary_line(report), err=as_json)
    for line in _progress.failure_lines(report):
        click.echo(line, err=True)
    if not report.ok:
        click.get_current_context().exit(EXIT_FAILED)


def locked_prefetch(
    settings: Settings, path: str, *, concurrency: int, as_json: bool, upload: bool
) -> None:
    """``hgloc prefetch --locked PATH``: every model of the lock at its locked commit."""
    import anyio

    from hgloc.localize import Localizer
    from hgloc.lockfile import fetch_locked

    lock_file = read_lock(path)
    config = settings.config()
    reporter = _progress.make_reporter(
        len(lock_file.models), quiet=settings.quiet, json_output=as_json
    )

    async def run() -> PrefetchReport:
        async with Localizer(config, concurrency=concurrency) as loc:
            return await fetch_locked(loc, lock_file, progress=reporter, upload=upload)

    with reporter:
        report = anyio.run(run)
    echo_prefetch_report(settings, report, as_json=as_json)


def locked_verify(settings: Settings, path: str) -> VerifyReport:
    """``hgloc verify --locked PATH``: the store checked against the lock, offline."""
    import anyio

    from hgloc.localize import Localizer
    from hgloc.lockfile import check_locked

    lock_file = read_lock(path)
    config = settings.config()

    async def run() -> VerifyReport:
        async with Localizer(config) as loc:
            return await check_locked(loc, lock_file)

    with model_errors(path):
        return anyio.run(run)
