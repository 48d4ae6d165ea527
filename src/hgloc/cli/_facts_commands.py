"""The compare and query commands: stored models side by side, and found by their facts.

Registered on hgloc's group by ``hgloc.cli._main``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

import hgloc.cli._output as _output
from hgloc.cli._app import BadInputError, Settings, model_errors, pass_settings

if TYPE_CHECKING:
    from hgloc.errors import ExpressionError
    from hgloc.facts.compare import CompareRow, Comparison

__all__ = ["format_value", "register"]

_COUNT_FIELDS = ("parameters",)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(compare)
    group.add_command(query)


def format_value(field: str, value: Any) -> str:
    """A cell: sizes in kB/MB/GB, parameter counts in M/B, lists joined, absent as ``-``."""
    from hgloc.cli._bytes import human_size
    from hgloc.facts.compare import is_number

    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if is_number(value) and "bytes" in field.split("_"):
        return human_size(int(value))
    if is_number(value) and field.split(".")[0] in _COUNT_FIELDS:
        return _human_count(int(value))
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _human_count(n: int) -> str:
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


class _ExpressionUsageError(BadInputError):
    """A malformed expression: the message, then the expression with a caret under the fault.

    Several lines on purpose (BadInputError folds its message into one).
    """

    def __init__(self, exc: ExpressionError) -> None:
        super().__init__(exc.message)
        self.caret = exc.caret

    def format_message(self) -> str:
        indented = "\n".join(f"  {line}" for line in self.caret.splitlines())
        return f"{super().format_message()}\n{indented}"


@click.command("compare")
@click.argument("models", nargs=-1, required=True, metavar="MODEL_ID[@REV]...")
@click.option("--all", "all_rows", is_flag=True, help="Show the rows that are equal too.")
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object.")
@click.option(
    "--context",
    type=click.IntRange(min=0),
    metavar="N",
    help="Add total_bytes: the weights plus the KV cache of N tokens.",
)
@click.option(
    "--fetch-parameters",
    is_flag=True,
    help="Count the weights of metadata-only models from the Hub's safetensors headers "
    "(a few KB per file; kept in the store for later, offline use).",
)
@pass_settings
def compare(
    settings: Settings,
    models: tuple[str, ...],
    all_rows: bool,
    json_output: bool,
    context: int | None,
    fetch_parameters: bool,
) -> None:
    """Compare stored models side by side: one column per model, one row per field.

    Rows are the normalized facts (model_type, hidden_size, layers, kv_heads,
    context, dtype, experts, parameters, weight_bytes, kv_cache_bytes_per_token...)
    then every config.json key, nested ones with dotted names
    (config.text_config.hidden_size). Only rows that differ are shown unless
    --all; on a terminal they are highlighted, numbers with their difference
    from the first model. A fact that cannot be known is shown as '-'.

    \b
    Examples:
      hgloc compare meta-llama/Llama-3.1-8B mistralai/Mistral-7B-v0.1
      hgloc compare gpt2 gpt2@v1 --all --json
      hgloc compare org/a org/b --context 32768 --fetch-parameters
    """
    import anyio

    from hgloc.cli._options import parse_ref
    from hgloc.facts.api import compare as compare_models

    refs = [parse_ref(m, None) for m in models]
    config = settings.config()

    async def run() -> Comparison:
        return await compare_models(
            refs, context=context, fetch_parameters=fetch_parameters, config=config
        )

    with model_errors(None):
        comparison = anyio.run(run)
    if json_output:
        _output.echo_json(comparison.to_json(all_rows=all_rows))
        return
    _print_comparison(comparison, all_rows=all_rows)


def _print_comparison(comparison: Comparison, *, all_rows: bool) -> None:
    rows = comparison.rows if all_rows else comparison.differing()
    if not rows:
        click.echo("The models do not differ." if not all_rows else "Nothing to compare.")
        return
    if not _output.is_terminal():
        columns = ["field", *comparison.models]
        if not all_rows:
            cells = [[r.field, *(format_value(r.field, v) for v in r.values)] for r in rows]
        else:
            mark = {True: "*", False: " "}
            cells = [
                [f"{mark[r.differs]}{r.field}", *(format_value(r.field, v) for v in r.values)]
                for r in rows
            ]
        # not print_table: its header is upper-cased, and these headers are model ids
        widths = [max(len(c[i]) for c in [columns, *cells]) for i in range(len(columns))]
        for line in (["FIELD", *comparison.models], *cells):
            click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        return
    _draw(comparison, rows)


def _draw(comparison: Comparison, rows: Sequence[CompareRow]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = "Differences" if len(rows) < len(comparison.rows) else "All fields"
    if comparison.context is not None:
        title += f" (total_bytes at {comparison.context:,} tokens)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("field", no_wrap=True)
    for model in comparison.models:
        table.add_column(model, overflow="fold")
    for row in rows:
        style = "bold yellow" if row.differs else "dim"
        cells = [Text(row.field, style=style)]
        for value, delta in zip(row.values, row.deltas(), strict=True):
            cell = Text(format_value(row.field, value), style="bold" if row.differs else "")
            if delta:
                cell.append(f" {delta}", style="green" if delta.startswith("+") else "red")
            cells.append(cell)
        table.add_row(*cells)
    _output.console().print(table)


@click.command("query")
@click.argument("expression")
@click.option("--json", "json_output", is_flag=True, help="Print a JSON list of the matches.")
@click.option(
    "--sort", metavar="FIELD", help="Order by FIELD (-FIELD: descending); absent values last."
)
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="At most N models.")
@click.option(
    "--rebuild-index", is_flag=True, help="Read every model folder again before answering."
)
@pass_settings
def query(
    settings: Settings,
    expression: str,
    json_output: bool,
    sort: str | None,
    limit: int | None,
    rebuild_index: bool,
) -> None:
    """Find stored models by their facts, offline.

    EXPRESSION compares fact names (those of `hgloc compare`) with values:
    ==, !=, <, <=, >, >=, and/or/not, parentheses, `"text" in FIELD`
    (substring, of any element for lists), `FIELD in ["a", "b"]`,
    `FIELD is None`, FIELD.startswith("..."), FIELD.endswith("..."),
    glob(FIELD, "*pattern*"), matches(FIELD, "regex"). A comparison with an
    absent fact never matches, nor does its negation.

    \b
    Examples:
      hgloc query 'model_type == "llama" and hidden_size >= 4096 and context >= 32768'
      hgloc query 'parameters < 3e9' --sort -parameters --limit 10
      hgloc query '"MoE" in architectures or experts > 1' --json
      hgloc query 'text_config.hidden_size is not None'
    """
    import anyio

    from hgloc.errors import ExpressionError
    from hgloc.facts import api
    from hgloc.facts.expression import compile_expression, compile_sort

    try:  # before opening the store: a typo is reported at once, exit code 2
        compile_expression(expression)
        if sort:
            compile_sort(sort)
    except ExpressionError as exc:
        raise _ExpressionUsageError(exc) from exc
    config = settings.config()

    async def run() -> api.QueryResult:
        if rebuild_index:
            await api.rebuild_index(config=config)
        return await api.query(expression, sort=sort, limit=limit, config=config)

    with model_errors(None):
        result = anyio.run(run)
    if json_output:
        _output.echo_json_records(result.to_json())
        return
    if not result.matches:
        if not settings.quiet:
            click.echo("No stored model matches.", err=True)
        return
    fields = [f for f in result.fields if f not in ("model_id", "revision")]
    cells = [
        [m.model_id, m.revision or "(default)",
         *(format_value(f, m.to_json(fields).get(f)) for f in fields)]
        for m in result.matches
    ]  # fmt: skip
    noun = "model matches" if len(cells) == 1 else "models match"
    _output.print_table(
        ["model", "revision", *fields], cells, title=f"{len(cells)} {noun}", folded=("model",)
    )
