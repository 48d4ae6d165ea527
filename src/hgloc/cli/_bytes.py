"""Byte progress of one full-model download: an overall bar, and a bar per big file.

:func:`byte_progress` is a context manager giving the ``on_bytes`` callback of
:meth:`hgloc.Localizer.download`, or ``None`` when nothing should be drawn (not
an interactive terminal, ``--quiet``, ``--json``): the core then skips the calls.

The core reports the model's total first as ``("", 0, total)``, then the
model's bytes as ``("", done, total)`` and each big file's as ``(path, done,
total)``, throttled per path, the last call (``done == total``) always made. It
calls on the event loop thread, which the CLI runs in the main thread; rich's
refresh thread takes its own lock, so no portal is needed.

rich is imported only when a display starts, so ``--help`` stays light.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Self

from hgloc.cli._output import console, is_interactive

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, TaskID

__all__ = ["MAX_FILE_BARS", "ByteBars", "OnBytes", "byte_progress", "human_size"]

OnBytes = Callable[[str, int, int], object]
"""``on_bytes(path, done, total)``, as :data:`hgloc.ByteProgress`."""

_PATH_WIDTH = 40  # a file bar's label; longer paths keep their end (the file name)
MAX_FILE_BARS = 8  # more files in flight wait, hidden, for a bar to free up


def human_size(size: int) -> str:
    """``1.2 GB``: decimal units, as rich's download column and the Hub's web pages show them."""
    from rich.filesize import decimal

    return decimal(size)


def _short(path: str) -> str:
    return path if len(path) <= _PATH_WIDTH else "…" + path[-(_PATH_WIDTH - 1) :]


class ByteBars:
    """A live rich display on stderr: the model's bytes, plus one bar per big file in flight.

    Calling it is the ``on_bytes`` callback. The display starts at the first
    call that carries bytes (a model already cached draws nothing) and stops
    when the context ends; the overall bar's last frame stays on screen, the
    file bars go as their files complete. At most :data:`MAX_FILE_BARS` file
    bars show at once; the other files in flight wait for one to go.
    """

    def __init__(self, label: str, *, out: Console | None = None) -> None:
        self.label = label
        self._console = out
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._files: dict[str, TaskID] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def progress(self) -> Progress | None:
        """The rich display once started (tests look at its tasks)."""
        return self._progress

    def __call__(self, path: str, done: int, total: int) -> None:
        if self._progress is None:
            if total <= 0:
                return  # nothing to fetch (every file kept from before): draw nothing
            self._start(total if path == "" else None)
        assert self._progress is not None and self._overall is not None
        if path == "":
            self._progress.update(self._overall, completed=done, total=total)
            return
        task = self._files.get(path)
        if done >= total:
            if task is not None:
                self._progress.remove_task(task)
                del self._files[path]
                self._show_waiting()
            return
        if task is None:
            if done == 0:
                # The core announces every big file at 0 as the download starts; a bar
                # appears once its bytes flow, so a 30-shard model does not show 30 idle bars.
                # A file restarted after a hash mismatch comes back the same way.
                return
            shown = sum(1 for t in self._progress.tasks if t.visible) - 1
            self._files[path] = self._progress.add_task(
                _short(path), total=total, completed=done, visible=shown < MAX_FILE_BARS
            )
        else:
            self._progress.update(task, completed=done, total=total)

    def _show_waiting(self) -> None:
        """A file bar went: show the oldest hidden one in its place."""
        assert self._progress is not None
        hidden = {t.id for t in self._progress.tasks if not t.visible}
        for task in self._files.values():  # in the order the files started
            if task in hidden:
                self._progress.update(task, visible=True)
                return

    def _start(self, total: int | None) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
        from rich.table import Column

        self._progress = Progress(
            TextColumn(
                "[progress.description]{task.description}",
                table_column=Column(no_wrap=True, overflow="ellipsis"),
            ),
            BarColumn(),
            DownloadColumn(),
            _rate_column(),
            console=self._console if self._console is not None else console(stderr=True),
        )
        # The task first, then start: no frame of an empty bar before the total is known.
        self._overall = self._progress.add_task(self.label, total=total)
        self._progress.start()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def _rate_column() -> ProgressColumn:
    """``12.3 MB/s eta 0:01:05`` while running; at the end, the average rate and the time taken.

    rich's own speed column shows ``?`` for a download shorter than two samples and
    keeps ``eta 0:00:00`` at the end; the last frame should say how it went instead.
    """
    from rich.filesize import decimal
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            if task.finished:
                took = task.finished_time or 0.0
                speed = task.completed / took if took > 0 else None
                when = f"in {_clock(took)}"
            else:
                speed = task.speed
                left = task.time_remaining
                when = f"eta {_clock(left) if left is not None else '-:--:--'}"
            rate = f"{decimal(int(speed))}/s" if speed is not None else "?/s"
            return Text(f"{rate} {when}", style="progress.data.speed")

    return RateColumn()


@contextlib.contextmanager
def byte_progress(
    label: str, *, quiet: bool = False, json_output: bool = False
) -> Iterator[OnBytes | None]:
    """The ``on_bytes`` callback for one model's download, drawing on an interactive stderr.

    Yields ``None`` (no display, no calls) with ``--quiet`` or ``--json``, or when
    stderr is not an interactive terminal: logs and pipes get the final line only.
    """
    if quiet or json_output or not is_interactive():
        yield None
        return
    with ByteBars(label) as bars:
        yield bars
