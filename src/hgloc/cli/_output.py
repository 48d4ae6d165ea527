"""How the CLI writes things: terminal detection, tables, JSON, cards and configs.

rich is imported inside the functions that draw, so commands that never draw
(and ``--help``) do not pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from hgloc.store import CachedModel

__all__ = [
    "config_summary",
    "console",
    "draws_table",
    "echo_json",
    "echo_json_records",
    "is_interactive",
    "is_terminal",
    "one_line",
    "print_card",
    "print_config",
    "print_models",
    "print_table",
    "short_commit",
    "split_front_matter",
]


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (stdout by default) is a terminal worth drawing on.

    ``TTY_COMPATIBLE=1``/``0`` overrides the check, the same switch rich honours,
    so ``TTY_COMPATIBLE=1 hgloc show-model-card x | less -R`` renders.
    """
    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        return forced == "1"
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def is_interactive(stream: IO[str] | None = None) -> bool:
    """Whether a live, redrawn display (a progress bar) suits ``stream`` (stderr by default).

    ``TTY_INTERACTIVE=1``/``0`` overrides, as in rich; dumb terminals get plain lines.
    """
    forced = os.environ.get("TTY_INTERACTIVE", "")
    if forced in ("0", "1"):
        return forced == "1"
    stream = sys.stderr if stream is None else stream
    dumb = os.environ.get("TERM", "").lower() in ("dumb", "unknown")
    return is_terminal(stream) and not dumb


def console(*, stderr: bool = False) -> Console:
    """A rich console on the current stdout/stderr (looked up now: tests swap them)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, force_terminal=is_terminal(stream), highlight=False)


def one_line(text: str) -> str:
    """``text`` with its line breaks folded, so one failure is one line of output."""
    return " ".join(text.split())


def short_commit(commit: str | None) -> str:
    return commit[:8] if commit else "-"


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout; NaN stays ``NaN`` like Python's json writes it."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def echo_json_records(records: Iterable[Mapping[str, Any]]) -> None:
    """Print a JSON list with one record per line: readable, ``grep``-able, and written
    by json's C encoder (``indent`` falls back to pure Python: 10,000 models, 2x slower).
    """
    # U+2028/U+2029 are valid raw in JSON but end a line for str.splitlines().
    lines = ",\n".join(
        "  "
        + json.dumps(r, ensure_ascii=False)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        for r in records
    )
    click.echo(f"[\n{lines}\n]" if lines else "[]")


# -- list-local-models -------------------------------------------------------

_COLUMNS = ("model", "revision", "commit", "card", "config", "kind", "public", "path")
# rich measures every cell before drawing: 10,000 rows took 6 s, 1,000 took 0.5 s.
# Longer lists get the aligned plain text, which takes a tenth of a second.
_MAX_DRAWN_ROWS = 1000


def _row(model: CachedModel) -> tuple[str, ...]:
    return (
        model.model_id,
        model.revision or "(default)",
        short_commit(model.commit),
        "yes" if model.has_card else "no",
        "yes" if model.has_config else "no",
        "full" if model.is_full_model else "metadata",
        "yes" if model.is_public else "no",
        model.path,
    )


def print_models(models: Sequence[CachedModel], *, root: str) -> None:
    """A table of cached models (see :func:`print_table`).

    The drawn table shows paths relative to ``root`` (named in its title) to fit;
    plain lines keep them absolute.
    """
    rows = [_row(m) for m in models]
    if draws_table(len(rows)):
        prefix = root.rstrip(os.sep) + os.sep
        rows = [(*cells[:-1], cells[-1].removeprefix(prefix)) for cells in rows]
    noun = "model" if len(rows) == 1 else "models"
    print_table(_COLUMNS, rows, title=f"{len(rows)} {noun} in {root}", folded=("model", "path"))


def draws_table(rows: int) -> bool:
    """Whether :func:`print_table` draws ``rows`` rows with rich (else plain lines)."""
    return rows <= _MAX_DRAWN_ROWS and is_terminal()


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str,
    folded: Sequence[str] = (),
) -> None:
    """Rows drawn with rich on a terminal, else aligned plain lines under an upper-case header.

    Plain lines keep one row per line whatever the width, so ``grep`` and
    ``awk`` work on them; lists longer than a terminal could usefully show are
    printed plain there too. Drawn, the ``folded`` columns (what people copy:
    ids, paths) wrap whole and are never cut; the others never wrap.
    """
    if not draws_table(len(rows)):
        widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
        for cells in (tuple(c.upper() for c in columns), *rows):
            line = "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True))
            click.echo(line.rstrip())
        return

    from rich import box
    from rich.table import Table

    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
        collapse_padding=True,
    )  # fmt: skip
    for name in columns:
        table.add_column(name.replace("_", " "), overflow="fold", no_wrap=name not in folded)
    for cells in rows:
        table.add_row(*cells)
    console().print(table)


# -- show-model-card ---------------------------------------------------------


def split_front_matter(card: str) -> tuple[str | None, str]:
    """Split a card's YAML front matter (between ``---`` lines at the top) from its body."""
    lines = card.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, card
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    return None, card


def print_card(card: str, *, title: str) -> None:
    """The card as Markdown on a terminal; byte-for-byte text when piped."""
    if not is_terminal():
        click.echo(card, nl=not card.endswith("\n"))
        return

    from rich.markdown import Markdown
    from rich.panel import Panel

    out = console()
    front, body = split_front_matter(card)
    if front is not None and front.strip():
        # Rich would read front matter as a rule plus a heading: show it as the metadata it is.
        out.print(Panel(front.rstrip(), title=f"{title} metadata", title_align="left", style="dim"))
    out.print(Markdown(body))


# -- show-model-config -------------------------------------------------------

# Config keys differ by architecture; the first one present wins.
_HIDDEN_KEYS = ("hidden_size", "d_model", "n_embd", "dim", "embed_dim")
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_VOCAB_KEYS = ("vocab_size", "n_vocab", "padded_vocab_size")
_NESTED = ("text_config", "llm_config", "language_config")  # multimodal models nest the LM


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _lookup(config: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    keys = tuple(keys)
    for key in keys:
        if _is_count(config.get(key)):
            return str(config[key])
    for nested in _NESTED:
        inner = config.get(nested)
        if isinstance(inner, Mapping):
            for key in keys:
                if _is_count(inner.get(key)):
                    return f"{inner[key]} ({nested})"
    return None


def _layers(config: Mapping[str, Any]) -> str | None:
    found = _lookup(config, _LAYER_KEYS)
    if found is not None:
        return found
    enc, dec = config.get("encoder_layers"), config.get("decoder_layers")
    if _is_count(enc) and _is_count(dec):
        return f"{enc} encoder + {dec} decoder"
    return None


def config_summary(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The few facts people look for first, under the key variants architectures use."""
    out: list[tuple[str, str]] = []
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type:
        out.append(("Model type", model_type))
    archs = config.get("architectures")
    if isinstance(archs, list) and archs:
        out.append(("Architectures", ", ".join(str(a) for a in archs)))
    for label, value in (
        ("Hidden size", _lookup(config, _HIDDEN_KEYS)),
        ("Layers", _layers(config)),
        ("Vocabulary", _lookup(config, _VOCAB_KEYS)),
    ):
        if value is not None:
            out.append((label, value))
    return out


def print_config(config: Mapping[str, Any], *, title: str) -> None:
    """Pretty JSON; on a terminal, a short summary first and JSON highlighting."""
    if not is_terminal():
        echo_json(config)
        return

    from rich.json import JSON
    from rich.table import Table

    out = console()
    summary = config_summary(config)
    if summary:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for label, value in summary:
            grid.add_row(f"{label}:", value)
        out.print(title, style="bold", markup=False)
        out.print(grid)
        out.print()
    out.print(JSON(json.dumps(config, indent=2, ensure_ascii=False)))
