"""``hgloc refs`` and ``hgloc lock``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

import hgloc.cli._output as _output
from hgloc.cli._app import BadInputError, Settings, model_errors, pass_settings
from hgloc.cli._options import model_list_options, parse_ref

if TYPE_CHECKING:
    from hgloc.lockfile import LockFile
    from hgloc.versions import RefsReport

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``refs`` and ``lock`` to ``group``."""
    group.add_command(refs)
    group.add_command(lock)


@click.command("lock")
@click.argument("model_ids", nargs=-1, metavar="[MODEL_ID[@REV]]...")
@model_list_options(revision=False)
@click.option(
    "-o",
    "--output",
    default="hgloc.lock",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the lock file ('-': stdout).",
)
@pass_settings
def lock(
    settings: Settings, model_ids: tuple[str, ...], files: tuple[str, ...], output: Path
) -> None:
    """Write a lock file: the exact commit and files the store holds for each model.

    Offline: made from the store's metadata, so prefetch the models first.
    `hgloc prefetch --locked hgloc.lock` then fetches exactly these commits on
    any machine, and `hgloc verify --locked hgloc.lock` checks a store against it.

    \b
    Examples:
      hgloc prefetch openai-community/gpt2@v1.0 google-bert/bert-base-uncased
      hgloc lock openai-community/gpt2@v1.0 google-bert/bert-base-uncased
      hgloc lock -f models.txt -o team.lock
    """
    import anyio

    from hgloc.cli._prefetch import read_model_list
    from hgloc.localize import Localizer
    from hgloc.lockfile import make_lock

    refs_, problems = read_model_list(model_ids, files, None)
    if problems:
        for problem in problems:
            click.echo(f"Error: {problem}", err=True)
        raise BadInputError(f"{len(problems)} bad model entr{'y' if len(problems) == 1 else 'ies'}")
    if not refs_:
        raise click.UsageError("give model ids as arguments or with -f FILE")
    config = settings.config()

    async def run() -> LockFile:
        async with Localizer(config) as loc:
            return await make_lock(loc, refs_)

    with model_errors(None):
        made = anyio.run(run)
    if str(output) == "-":
        click.echo(made.dumps(), nl=False)
        return
    with model_errors(None):
        made.write(output)
    if not settings.quiet:
        click.echo(f"Locked {len(made.models)} model(s) in {output}", err=True)


@click.command("refs")
@click.argument("model_id")
@click.option("--json", "as_json", is_flag=True, help="Print the refs as JSON.")
@pass_settings
def refs(settings: Settings, model_id: str, as_json: bool) -> None:
    """The Hub's branches and tags of MODEL_ID beside what the store holds for each.

    A stored branch the Hub has moved on from is `behind` (refresh it with
    `hgloc prefetch MODEL_ID@BRANCH --refresh`); a tag that points elsewhere
    now is `moved`. Revisions stored by commit are `pinned`. Offline
    (HF_HUB_OFFLINE=1), only the store's side is shown.

    \b
    Examples:
      hgloc refs openai-community/gpt2
      hgloc refs openai-community/gpt2 --json
    """
    import anyio

    from hgloc.versions import refs as refs_of

    ref = parse_ref(model_id, None)
    if ref.revision is not None:
        raise BadInputError("refs lists every revision: give the model id without '@'")
    config = settings.config()
    with model_errors(model_id):
        report: RefsReport = anyio.run(lambda: refs_of(ref.model_id, config=config))
    if as_json:
        _output.echo_json(report.as_dict())
        return
    rows = [
        (
            r.name,
            r.kind,
            _output.short_commit(r.hub_commit) if r.hub_commit else "-",
            _output.short_commit(r.stored_commit) if r.stored_commit else "-",
            r.state.value,
        )
        for r in report.rows
    ]
    _output.print_table(["name", "kind", "hub", "stored", "state"], rows, title=f"{model_id} refs")
    if not report.online and not settings.quiet:
        click.echo("offline: the Hub was not asked", err=True)
