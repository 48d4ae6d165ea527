"""`hgloc verify`: re-hash stored files against their metadata, and repair what is damaged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

import hgloc.cli._output as _output
from hgloc.cli._app import BadInputError, CliError, Settings, model_errors, pass_settings
from hgloc.cli._options import parse_ref

if TYPE_CHECKING:
    from hgloc.localize import VerifyReport

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``verify`` to ``group``."""
    group.add_command(verify)


@click.command("verify")
@click.argument("model_ids", nargs=-1)
@click.option("--s3", "bucket", is_flag=True, help="Check the team bucket's copies instead.")
@click.option("--repair", is_flag=True, help="Fetch damaged or missing files again.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--locked", metavar="PATH", help="Check the store against lock file PATH (commits and bytes)."
)
@pass_settings
def verify(
    settings: Settings,
    model_ids: tuple[str, ...],
    bucket: bool,
    repair: bool,
    as_json: bool,
    locked: str | None,
) -> None:
    """Re-hash every stored file against the size and hash recorded when it was fetched.

    Checks all cached models, or the MODEL_IDs given (`org/name` or
    `org/name@revision`). A damaged model is reported with the files that do
    not match; --repair makes it stop counting as cached and fetches it again
    (only the damaged files, for full models). Exit code 1 when damage remains.

    \b
    Examples:
      hgloc verify
      hgloc verify openai-community/gpt2 --repair
      hgloc verify --s3 --json
      hgloc verify --locked hgloc.lock
    """
    import anyio

    from hgloc.localize import Localizer

    refs = [parse_ref(model_id, None) for model_id in model_ids] or None
    config = settings.config()

    async def run() -> VerifyReport:
        async with Localizer(config) as loc:
            return await loc.verify(refs, bucket=bucket, repair=repair)

    if locked is not None:
        from hgloc.cli._locked_runs import locked_verify

        if model_ids or bucket or repair:
            raise BadInputError("--locked checks the lock file's models in the store, as they are")
        report = locked_verify(settings, locked)
    else:
        with model_errors(", ".join(model_ids) if model_ids else None):
            report = anyio.run(run)
    if as_json:
        _output.echo_json(report.as_dict())
    elif not settings.quiet:
        for result in report.results:
            label = (
                result.model_id
                if result.revision is None
                else (f"{result.model_id}@{result.revision}")
            )
            if result.error:
                click.echo(f"FAILED   {label}: {result.error}", err=True)
            elif not result.problems:
                click.echo(f"ok       {label} ({result.files} files, {result.bytes} bytes)")
            else:
                state = "REPAIRED" if result.repaired else "DAMAGED "
                click.echo(f"{state} {label}", err=not result.repaired)
                for problem in result.problems:
                    click.echo(f"           {problem}", err=not result.repaired)
        data = report.as_dict()
        click.echo(
            f"{data['models']} models, {data['files']} files, {data['bytes']} bytes checked: "
            f"{data['damaged']} damaged, {data['repaired']} repaired in {data['seconds']:.1f}s"
        )
    if not report.ok:
        raise CliError(
            f"{len(report.damaged)} model(s) damaged or missing"
            + ("" if repair else "; run with --repair to fetch them again")
        )
