"""``hgloc prefetch``: cache many models in one run, with progress and a per-model report."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

import hgloc.cli._output as _output
import hgloc.cli._progress as _progress
from hgloc.cli._app import EXIT_FAILED, BadInputError, Settings, pass_settings
from hgloc.cli._bucket_flags import check_share_flags
from hgloc.cli._options import full_model_options, full_model_patterns, model_list_options
from hgloc.config import DEFAULT_CONCURRENCY as _DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from hgloc.localize import ModelRef, PrefetchReport

__all__ = ["read_model_list", "register"]

# A comment starts at a '#' that begins the line or follows a space ('#' may appear in a
# git branch name, never after a space).
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def register(group: click.Group) -> None:
    """Add ``prefetch`` to ``group``."""
    group.add_command(prefetch)


def _read_text(name: str) -> str:
    """The text of a model list; ``-`` is stdin. Unreadable: exit 2 naming the file."""
    try:
        # utf-8-sig: tolerate the BOM some Windows editors write.
        with click.open_file(name, encoding="utf-8-sig") as handle:
            return str(handle.read())
    except UnicodeDecodeError as exc:
        raise BadInputError(f"cannot read model list {name}: not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise BadInputError(f"cannot read model list {name}: {exc.strerror or exc}") from exc


def read_model_list(
    args: Iterable[str], files: Iterable[str], revision: str | None
) -> tuple[list[ModelRef], list[str]]:
    """Every model asked for (arguments, then files, first occurrence kept), and every problem.

    Problems name where the bad entry is (``models.txt:3``, ``argument 2``) so all of
    them can be fixed in one go.
    """
    from hgloc.errors import InvalidModelIdError
    from hgloc.localize import parse_model_ref

    refs: dict[ModelRef, None] = {}  # an ordered set
    problems: list[str] = []

    def add(text: str, where: str) -> None:
        try:
            refs.setdefault(parse_model_ref(text, revision), None)
        except InvalidModelIdError as exc:
            problems.append(f"{where}: {_output.one_line(str(exc))}")

    for index, text in enumerate(args, start=1):
        add(text, f"argument {index}")
    for name in files:
        shown = "<stdin>" if name == "-" else name
        for number, line in enumerate(_read_text(name).splitlines(), start=1):
            text = _COMMENT.sub("", line).strip()
            if text:
                add(text, f"{shown}:{number}")
    return list(refs), problems


@click.command("prefetch")
@click.argument("model_ids", nargs=-1, metavar="[MODEL_ID]...")
@model_list_options()
@full_model_options("each repo")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    metavar="N",
    default=_DEFAULT_CONCURRENCY,
    show_default=True,
    help="Models fetched at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--refresh", is_flag=True, help="Ask the Hub whether cached revisions moved; refetch those."
)
@click.option(
    "--no-s3-upload",
    is_flag=True,
    help="Keep the models in the local store only (no upload to the team bucket).",
)
@click.option(
    "--make-public",
    is_flag=True,
    help="Also publish their cards and configs in the bucket's public manifest.",
)
@click.option(
    "--locked",
    metavar="PATH",
    help="Fetch exactly the commits of lock file PATH (see `hgloc lock`), nothing else.",
)
@pass_settings
def prefetch(
    settings: Settings,
    model_ids: tuple[str, ...],
    files: tuple[str, ...],
    revision: str | None,
    full_model: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    concurrency: int,
    as_json: bool,
    refresh: bool,
    no_s3_upload: bool,
    make_public: bool,
    locked: str | None,
) -> None:
    """Cache many models at once: cards and configs, or every file.

    Ids come from the arguments and from -f files. Every id is checked before
    anything is fetched: a bad one stops the run with exit code 2 and its line
    number. One model's failure does not stop the others; the exit code is 1
    when any failed, and the summary (or the --json report) says which and why.
    With a team bucket, models come from it when it has them, and models
    fetched from the Hub are uploaded to it, as with download-model.
    --full-model stores every file of each repo; --include/--exclude narrow
    the files, as with download-model.

    \b
    Examples:
      hgloc prefetch google-bert/bert-base-uncased openai-community/gpt2
      hgloc prefetch -f models.txt --concurrency 32
      hgloc prefetch -f models.txt --full-model --include "*.safetensors" --include "*.json"
      hgloc prefetch openai-community/gpt2 --full-model --exclude "*.h5" --exclude "*.msgpack"
      grep -v llama models.txt | hgloc prefetch -f - --json > report.json
      hgloc prefetch -f models.txt --no-s3-upload
      hgloc prefetch --locked hgloc.lock

    \b
    A model list:
      # encoders
      google-bert/bert-base-uncased
      FacebookAI/roberta-base@main   # a pinned revision
    """
    if locked is not None:
        from hgloc.cli._locked_runs import locked_prefetch

        if model_ids or files:
            raise BadInputError("--locked fetches the models of the lock file: give no ids")
        locked_prefetch(
            settings, locked, concurrency=concurrency, as_json=as_json, upload=not no_s3_upload
        )
        return
    allow, ignore = full_model_patterns(full_model, include, exclude)
    check_share_flags(settings.config(), make_public=make_public, no_s3_upload=no_s3_upload)
    refs, problems = read_model_list(model_ids, files, revision)
    if problems:
        for problem in problems:
            click.echo(f"Error: {problem}", err=True)
        noun = "entry" if len(problems) == 1 else "entries"
        raise BadInputError(f"{len(problems)} bad model {noun}; nothing was fetched")
    if not refs:
        if not files:
            raise click.UsageError("give model ids as arguments or with -f FILE")
        click.echo("No model ids in the given lists; nothing to do.", err=True)
    report = _run(
        settings,
        refs,
        concurrency=concurrency,
        refresh=refresh,
        as_json=as_json,
        upload=not no_s3_upload,
        make_public=make_public,
        full_model=full_model,
        allow=allow,
        ignore=ignore,
    )

    if as_json:
        _output.echo_json(report.as_dict())
    if not settings.quiet:
        click.echo(_progress.summary_line(report), err=as_json)
    for line in _progress.failure_lines(report):
        click.echo(line, err=True)
    if not report.ok:
        click.get_current_context().exit(EXIT_FAILED)


def _run(
    settings: Settings,
    refs: list[ModelRef],
    *,
    concurrency: int,
    refresh: bool,
    as_json: bool,
    upload: bool,
    make_public: bool,
    full_model: bool,
    allow: list[str] | None,
    ignore: list[str] | None,
) -> PrefetchReport:
    import anyio

    from hgloc.cli._bucket_flags import no_credentials_note, upload_allowed
    from hgloc.localize import Localizer, PrefetchReport

    if not refs:
        return PrefetchReport((), 0.0)
    config = settings.config()
    reporter = _progress.make_reporter(len(refs), quiet=settings.quiet, json_output=as_json)

    async def run() -> PrefetchReport:
        async with Localizer(config, concurrency=concurrency) as loc:
            allowed = await upload_allowed(loc, upload=upload, make_public=make_public)
            if allowed != upload and not settings.quiet:
                click.echo(no_credentials_note(config, "models are cached locally only"), err=True)
            return await loc.prefetch(
                refs,
                refresh=refresh,
                progress=reporter,
                metadata_only=not full_model,
                allow_patterns=allow,
                ignore_patterns=ignore,
                upload=allowed,
                make_public=make_public,
            )

    with reporter:
        return anyio.run(run)
