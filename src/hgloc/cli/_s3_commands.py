"""The team-bucket commands: list-s3-models, sync-local-model-to-s3, sync-all-local-models-to-s3.

hgloc's API (and with it aiobotocore) is imported inside the functions, so
``--help`` stays light.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Self

import click

import hgloc.cli._output as _output
import hgloc.cli._progress as _progress
from hgloc.cli._app import EXIT_FAILED, Settings, model_errors, pass_settings, prog_name
from hgloc.cli._bucket_flags import bucket_location, require_bucket
from hgloc.cli._options import REVISION_HELP, parse_ref
from hgloc.config import DEFAULT_SYNC_CONCURRENCY

if TYPE_CHECKING:
    from hgloc.bucket import BucketEntry
    from hgloc.localize import ModelResult, PrefetchReport

__all__ = ["SYNC_CONCURRENCY", "register"]

SYNC_CONCURRENCY = DEFAULT_SYNC_CONCURRENCY


def register(group: click.Group) -> None:
    """Add the bucket commands to ``group``."""
    for command in (list_s3_models, sync_local_model_to_s3, sync_all_local_models_to_s3):
        group.add_command(command)


# -- list-s3-models -------------------------------------------------------------

_COLUMNS = (
    "model", "revision", "public", "card", "config", "kind", "last_updated", "s3_prefix"
)  # fmt: skip


def _when(value: str | None) -> str:
    """An index timestamp to the second, in UTC (``-`` when the index has none)."""
    if not value:
        return "-"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # another tool's format: show it as written
    if parsed.tzinfo is not None:
        return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


def _row(entry: BucketEntry) -> tuple[str, ...]:
    return (
        entry.model_id,
        entry.revision or "(default)",
        "yes" if entry.is_public else "no",
        "yes" if entry.has_card else "no",
        "yes" if entry.has_config else "no",
        "full" if entry.is_full_model else "metadata",
        _when(entry.last_updated),
        entry.s3_prefix,
    )


@click.command("list-s3-models")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_settings
def list_s3_models(settings: Settings, as_json: bool) -> None:
    """List the models in the team bucket.

    The bucket is HGLOC_S3_BUCKET_NAME; the list comes from its indexes,
    private_models_index.json and public_models.json. Without AWS
    credentials only the public models are listed (a note on stderr says
    so). On a terminal: a table; piped: one aligned line per model. --json
    prints the dicts (model_id, revision, s3_prefix, is_public, has_card,
    has_config, is_full_model, last_updated).

    \b
    Examples:
      hgloc list-s3-models
      hgloc list-s3-models --json | jq -r '.[] | select(.is_public) | .model_id'
      HGLOC_S3_BUCKET_NAME=team-models HGLOC_S3_DATA_PREFIX=nlp hgloc list-s3-models
    """
    import anyio

    from hgloc.localize import Localizer

    config = settings.config()
    require_bucket(config, "list-s3-models")
    where = bucket_location(config)

    async def run() -> tuple[list[BucketEntry], bool]:
        async with Localizer(config) as loc:
            entries = await loc.list_bucket_models()
            return entries, await loc.bucket() is None

    with model_errors(where):
        entries, public_only = anyio.run(run)
    if public_only and not settings.quiet:
        # stderr: stdout stays the table or the JSON document.
        click.echo(
            f"Note: no AWS credentials, so only the public models of {where} are listed "
            "(set HGLOC_AWS_ACCESS_KEY_ID and HGLOC_AWS_SECRET_ACCESS_KEY to see all)",
            err=True,
        )
    if as_json:
        _output.echo_json_records(e.as_dict() for e in entries)
    elif entries:
        noun = "model" if len(entries) == 1 else "models"
        rows = [_row(e) for e in entries]
        title = f"{len(entries)} {noun} in {where}"
        _output.print_table(_COLUMNS, rows, title=title, folded=("model", "s3_prefix"))
    elif not settings.quiet:
        click.echo(
            f"No models in {where}; share one with `{prog_name()} sync-local-model-to-s3 ID`",
            err=True,
        )


# -- sync-local-model-to-s3 -----------------------------------------------------

_MAKE_PUBLIC_HELP = (
    "Also publish the card and config (public-read) in the bucket's public_models.json."
)


@click.command("sync-local-model-to-s3")
@click.argument("model_id")
@click.option("-r", "--revision", help=REVISION_HELP)
@click.option("--make-public", is_flag=True, help=_MAKE_PUBLIC_HELP)
@pass_settings
def sync_local_model_to_s3(
    settings: Settings, model_id: str, revision: str | None, make_public: bool
) -> None:
    """Upload one local model to the team bucket.

    MODEL_ID is `name` or `org/name`, optionally `org/name@revision`, as it
    was downloaded. Files already in the bucket with the same size and hash
    are not sent again. Prints where the model is in the bucket; with
    --quiet, only that. Exit code 1 when the model is not in the local store
    or the upload fails (a rerun resumes), 2 when no bucket is configured.

    \b
    Examples:
      hgloc sync-local-model-to-s3 google-bert/bert-base-uncased
      hgloc sync-local-model-to-s3 openai-community/gpt2@main --make-public
    """
    import anyio

    from hgloc.localize import Localizer, Status

    ref = parse_ref(model_id, revision)
    config = settings.config()
    require_bucket(config, "sync-local-model-to-s3")

    async def run() -> ModelResult:
        async with Localizer(config) as loc:
            return await loc.upload(ref.model_id, ref.revision, make_public=make_public)

    with model_errors(ref):
        result = anyio.run(run)
    assert result.path is not None  # an upload that did not raise has a place
    if settings.quiet:
        click.echo(result.path)
        return
    public = " (public)" if make_public else ""
    if result.status is Status.UPLOADED:
        click.echo(f"Uploaded {ref} to {result.path}{public}")
    else:
        click.echo(f"{ref} is already in the bucket at {result.path}{public}")


# -- sync-all-local-models-to-s3 ------------------------------------------------

_SYNC_STATUS = {"uploaded": "uploaded", "skipped": "already in the bucket", "failed": "failed"}


def sync_summary_line(report: PrefetchReport) -> str:
    """``40 models: 38 uploaded, 1 already in the bucket, 1 failed in 2.1s``."""
    total = len(report.results)
    noun = "model" if total == 1 else "models"
    return (
        f"{total} {noun}: {len(report.uploaded)} uploaded, {len(report.skipped)} already in "
        f"the bucket, {len(report.failed)} failed in {report.seconds:.1f}s"
    )


class _SyncLines(_progress.LineReporter):
    """prefetch's plain lines, with the statuses of an upload."""

    status_names = _SYNC_STATUS


class _SyncBar(_progress.BarReporter):
    """prefetch's bar, labelled for an upload."""

    def __enter__(self) -> Self:
        super().__enter__()
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description="sync")
        return self


def _sync_reporter(total: int, *, quiet: bool, json_output: bool) -> _progress.Reporter:
    if quiet:
        return _progress.SilentReporter(total)
    if _output.is_interactive():
        return _SyncBar(total)
    return _SyncLines(total, err=json_output)


@click.command("sync-all-local-models-to-s3")
@click.option("--make-public", is_flag=True, help="Publish every model's card and config too.")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    metavar="N",
    default=SYNC_CONCURRENCY,
    show_default=True,
    help="Models uploaded at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@pass_settings
def sync_all_local_models_to_s3(
    settings: Settings, make_public: bool, concurrency: int, as_json: bool
) -> None:
    """Upload every local model to the team bucket.

    Safe to rerun: objects already in the bucket with the same size and hash
    are skipped, so an interrupted sync resumes. One model's failure does not
    stop the others; the exit code is 1 when any failed, and the summary (or
    the --json report) says which and why. Models read from the bucket's
    public manifest are not uploaded again.

    \b
    Examples:
      hgloc sync-all-local-models-to-s3
      hgloc sync-all-local-models-to-s3 --concurrency 4 --json > sync.json
      hgloc --store /data/models sync-all-local-models-to-s3 --make-public
    """
    import anyio

    from hgloc.localize import Localizer, PrefetchReport

    config = settings.config()
    require_bucket(config, "sync-all-local-models-to-s3")

    async def run() -> PrefetchReport:
        async with Localizer(config) as loc:
            # The reporter needs the total before the first result.
            total = len(await loc.list_models(public_copies=False))
            if not total:
                return PrefetchReport((), 0.0)
            reporter = _sync_reporter(total, quiet=settings.quiet, json_output=as_json)
            with reporter:
                return await loc.sync_all_to_bucket(
                    make_public=make_public, concurrency=concurrency, progress=reporter
                )

    with model_errors(bucket_location(config)):
        report = anyio.run(run)

    if not report.results and not settings.quiet:
        click.echo(
            f"No models for {bucket_location(config)} in {config.store_path}; nothing to upload",
            err=True,
        )
    if as_json:
        _output.echo_json(report.as_dict())
    if not settings.quiet and report.results:
        click.echo(sync_summary_line(report), err=as_json)
    for line in _progress.failure_lines(report):
        click.echo(line, err=True)
    if not report.ok:
        click.get_current_context().exit(EXIT_FAILED)
