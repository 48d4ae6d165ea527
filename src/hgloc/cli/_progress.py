"""Progress of a bulk prefetch: a rich bar on a terminal, one plain line per model otherwise.

A reporter is the ``progress`` callback of :meth:`hgloc.Localizer.prefetch`.
The localizer calls it on the event loop thread as each model finishes (the
CLI runs the loop with ``anyio.run`` in the main thread), so it needs no
portal; rich's refresh thread takes its own lock.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

import click

from hgloc.cli._output import console, is_interactive, one_line

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from hgloc.localize import ModelResult, PrefetchReport

__all__ = ["Reporter", "failure_lines", "make_reporter", "summary_line"]

_HUMAN_STATUS = {"fetched": "fetched", "skipped": "already cached", "failed": "failed"}


def failure_lines(report: PrefetchReport) -> list[str]:
    """One line per failed model: which one and why (the reason says what to do)."""
    return [f"FAILED  {r.label}: {one_line(r.error or 'unknown error')}" for r in report.failed]


def summary_line(report: PrefetchReport) -> str:
    """``500 models: 480 fetched, 15 already cached, 5 failed in 3.2s``."""
    total = len(report.results)
    noun = "model" if total == 1 else "models"
    return (
        f"{total} {noun}: {len(report.fetched)} fetched, {len(report.skipped)} already cached, "
        f"{len(report.failed)} failed in {report.seconds:.1f}s"
    )


class Reporter(Protocol):
    """A progress callback that is also a context manager (to start and stop a display)."""

    def __call__(self, result: ModelResult) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Base:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def _count(self, result: ModelResult) -> None:
        self.done += 1
        if not result.ok:
            self.failed += 1


class SilentReporter(_Base):
    """--quiet: counts, shows nothing."""

    def __call__(self, result: ModelResult) -> None:
        self._count(result)


class LineReporter(_Base):
    """One line per finished model, for logs and pipes (flushed, so ``tail -f`` follows)."""

    # How each status reads in a line; a subclass renames them for its command.
    status_names = _HUMAN_STATUS

    def __init__(self, total: int, *, err: bool) -> None:
        super().__init__(total)
        self.err = err

    def __call__(self, result: ModelResult) -> None:
        self._count(result)
        head = f"[{self.done}/{self.total}]"
        if result.ok:
            status = self.status_names.get(result.status.value, result.status.value)
            line = f"{head} {'ok':<8}{result.label} ({status}, {result.seconds:.2f}s)"
        else:
            line = f"{head} {'FAILED':<8}{result.label}: {one_line(result.error or '')}"
        click.echo(line, err=self.err)


class BarReporter(_Base):
    """A rich progress bar on stderr: models done / total, failures, rate, time left."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failures]}"),
            TextColumn("[progress.data.speed]{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console(stderr=True),
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "prefetch", total=self.total, failures=self._failures(), rate=""
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _failures(self) -> str:
        return f"[red]{self.failed} failed[/red]" if self.failed else "0 failed"

    def __call__(self, result: ModelResult) -> None:
        self._count(result)
        assert self._progress is not None and self._task is not None
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = f"{self.done / elapsed:.1f} models/s" if elapsed > 0 else ""
        self._progress.update(self._task, advance=1, failures=self._failures(), rate=rate)


def make_reporter(total: int, *, quiet: bool, json_output: bool) -> Reporter:
    """The reporter for this run: silent, a bar on an interactive stderr, else plain lines.

    Plain lines go to stdout, except with ``--json``: stdout is then only the report.
    """
    if quiet:
        return SilentReporter(total)
    if is_interactive():
        return BarReporter(total)
    return LineReporter(total, err=json_output)
