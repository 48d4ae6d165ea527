"""``hgloc collection ...``: named, ordered sets of pinned models (store or team bucket)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

import hgloc.cli._output as _output
import hgloc.cli._progress as _progress
from hgloc.cli._app import BadInputError, Settings, model_errors, pass_settings
from hgloc.cli._locked_runs import echo_prefetch_report
from hgloc.cli._options import parse_ref
from hgloc.config import DEFAULT_CONCURRENCY as _DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from hgloc.collections import Collection
    from hgloc.localize import PrefetchReport

__all__ = ["register"]

T = TypeVar("T")


def register(group: click.Group) -> None:
    """Add the ``collection`` group to ``group``."""
    group.add_command(collection)


def _run(what: object, call: Callable[[], Awaitable[T]]) -> T:
    import anyio

    with model_errors(what):
        return anyio.run(call)


def _show(item_lines: Collection) -> None:
    c = item_lines
    click.echo(f"{c.slug}: {c.title}" + ("" if c.private else "  (public)"))
    if c.description:
        click.echo(f"  {c.description}")
    for position, item in enumerate(c.items):
        kind = "full" if item.full else "metadata"
        if item.include:
            kind += " " + ",".join(item.include)
        note = f"  # {item.note}" if item.note else ""
        click.echo(f"  {position:>3}  {item.ref}  [{kind}]{note}")
    if not c.items:
        click.echo("  (no items)")


@click.group("collection")
def collection() -> None:
    """Named, ordered sets of models, each pinned at a branch, tag or commit.

    A collection lives in the store, and with a team bucket configured
    (HGLOC_S3_BUCKET_NAME) in the bucket, beside its indexes, where every
    member sees it; members without AWS credentials read the public ones.

    \b
    Examples:
      hgloc collection create team/encoders --title "Encoders" --description "What we ship"
      hgloc collection add team/encoders google-bert/bert-base-uncased@main --note "baseline"
      hgloc collection add team/encoders openai-community/gpt2@v1.0 --full-model --include "*.json"
      hgloc collection sync team/encoders
      hgloc collection lock team/encoders -o encoders.lock
    """


@collection.command("create")
@click.argument("slug")
@click.option("--title", required=True, help="The collection's title.")
@click.option("--description", help="What the collection is for.")
@click.option(
    "--public",
    is_flag=True,
    help="Also list it in the bucket's public manifest (readable without credentials).",
)
@pass_settings
def create(
    settings: Settings, slug: str, title: str, description: str | None, public: bool
) -> None:
    """Create an empty collection SLUG ('name' or 'owner/name')."""
    from hgloc.collections import create_collection

    config = settings.config()
    made = _run(
        slug,
        lambda: create_collection(slug, title, description, private=not public, config=config),
    )
    if not settings.quiet:
        click.echo(f"Created collection {made.slug}", err=True)


@collection.command("add")
@click.argument("slug")
@click.argument("model_id", metavar="MODEL_ID[@REV]")
@click.option("--note", help="A note shown beside the item.")
@click.option(
    "--full-model", is_flag=True, help="Sync every file of the repo, not only card and config."
)
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="With --full-model: only the files matching GLOB (repeatable).",
)
@pass_settings
def add(
    settings: Settings,
    slug: str,
    model_id: str,
    note: str | None,
    full_model: bool,
    include: tuple[str, ...],
) -> None:
    """Add MODEL_ID pinned at REV (a branch, tag or commit) to the end of SLUG.

    Adding the same model at the same revision again updates its note and files.
    """
    from hgloc.collections import add_to_collection

    if include and not full_model:
        raise BadInputError("--include narrows a --full-model item; add --full-model")
    ref = parse_ref(model_id, None)
    config = settings.config()
    updated = _run(
        model_id,
        lambda: add_to_collection(
            slug, ref, note=note, full=full_model, include=include, config=config
        ),
    )
    if not settings.quiet:
        click.echo(f"{slug}: {len(updated.items)} item(s)", err=True)


@collection.command("remove")
@click.argument("slug")
@click.argument("model_id", metavar="MODEL_ID[@REV]")
@pass_settings
def remove(settings: Settings, slug: str, model_id: str) -> None:
    """Remove MODEL_ID's items from SLUG (with @REV: only the item at that revision)."""
    from hgloc.collections import remove_from_collection

    ref = parse_ref(model_id, None)
    config = settings.config()
    updated = _run(model_id, lambda: remove_from_collection(slug, ref, config=config))
    if not settings.quiet:
        click.echo(f"{slug}: {len(updated.items)} item(s)", err=True)


@collection.command("list")
@click.option("--owner", help="Only the collections of OWNER (the part of the slug before '/').")
@click.option("--json", "as_json", is_flag=True, help="Print the collections as JSON.")
@pass_settings
def list_(settings: Settings, owner: str | None, as_json: bool) -> None:
    """Every collection: in the team bucket when one is configured, else in the store."""
    from hgloc.collections import list_collections

    config = settings.config()
    found = _run(None, lambda: list_collections(owner, config=config))
    if as_json:
        _output.echo_json([c.as_json() for c in found])
        return
    rows = [
        (c.slug, c.title, str(len(c.items)), "no" if c.private else "yes", c.last_updated[:19])
        for c in found
    ]
    _output.print_table(
        ["slug", "title", "items", "public", "updated"], rows, title=f"{len(rows)} collections"
    )


@collection.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the collection as JSON.")
@pass_settings
def show(settings: Settings, slug: str, as_json: bool) -> None:
    """One collection and its items, in order, with their revisions and notes."""
    from hgloc.collections import get_collection

    config = settings.config()
    found = _run(slug, lambda: get_collection(slug, config=config))
    if as_json:
        _output.echo_json(found.as_json())
    else:
        _show(found)


@collection.command("sync")
@click.argument("slug")
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
@click.option("--refresh", is_flag=True, help="Ask the Hub whether pinned branches moved.")
@click.option("--no-s3-upload", is_flag=True, help="Do not upload what comes from the Hub.")
@pass_settings
def sync(
    settings: Settings,
    slug: str,
    concurrency: int,
    as_json: bool,
    refresh: bool,
    no_s3_upload: bool,
) -> None:
    """Prefetch every item of SLUG at its revision; a report per item, exit codes as prefetch."""
    from hgloc.collections import get_collection, sync_collection

    config = settings.config()
    found = _run(slug, lambda: get_collection(slug, config=config))
    reporter = _progress.make_reporter(len(found.items), quiet=settings.quiet, json_output=as_json)

    async def run() -> PrefetchReport:
        return await sync_collection(
            slug,
            concurrency=concurrency,
            progress=reporter,
            refresh=refresh,
            upload=not no_s3_upload,
            config=config,
        )

    with reporter:
        report = _run(slug, run)
    echo_prefetch_report(settings, report, as_json=as_json)


@collection.command("lock")
@click.argument("slug")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the lock file ('-': stdout).",
)
@pass_settings
def lock(settings: Settings, slug: str, output: Path) -> None:
    """Write a lock file of SLUG's items as the store holds them (sync it first)."""
    from hgloc.collections import lock_collection

    config = settings.config()
    made = _run(slug, lambda: lock_collection(slug, config=config))
    if str(output) == "-":
        click.echo(made.dumps(), nl=False)
        return
    with model_errors(None):
        made.write(output)
    if not settings.quiet:
        click.echo(f"Locked {len(made.models)} model(s) of {slug} in {output}", err=True)
