"""The metadata commands: download-model, list-local-models, show-model-card, show-model-config.

hgloc's API modules are imported inside the commands, so ``--help`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

import hgloc.cli._output as _output
from hgloc.cli._app import CliError, Settings, model_errors, pass_settings, prog_name
from hgloc.cli._options import REVISION_HELP, full_model_options, full_model_patterns, parse_ref

if TYPE_CHECKING:
    from hgloc.config import Config
    from hgloc.layout import ModelRecord
    from hgloc.localize import ModelRef, ModelResult

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    for command in (download_model, list_local_models, show_model_card, show_model_config):
        group.add_command(command)


@click.command("download-model")
@click.argument("model_id")
@click.option("-r", "--revision", help=REVISION_HELP)
@full_model_options("the repo")
@click.option(
    "--no-s3-upload",
    is_flag=True,
    help="Keep the model in the local store only (no upload to the team bucket).",
)
@click.option(
    "--make-public",
    is_flag=True,
    help="Also publish its card and config in the bucket's public manifest (needs a bucket).",
)
@click.option(
    "--refresh", is_flag=True, help="Ask the Hub whether the revision moved; refetch if it did."
)
@pass_settings
def download_model(
    settings: Settings,
    model_id: str,
    revision: str | None,
    full_model: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    no_s3_upload: bool,
    make_public: bool,
    refresh: bool,
) -> None:
    """Cache a model's card (README.md) and config.json in the store.

    MODEL_ID is `name` or `org/name`, optionally `org/name@revision`. A model
    already cached is not fetched again unless --refresh finds a newer commit.
    Prints where the model is; with --quiet, only its path.

    --full-model stores every file of the repo (README.md as model_card.md),
    each checked against the Hub's hash, ready for from_pretrained(path); an
    interrupted download resumes where it stopped. --include/--exclude narrow
    it with huggingface_hub's globs ('*' crosses '/'); --exclude wins. On a
    terminal, a progress display shows the bytes, overall and per big file.

    With a team bucket (HGLOC_S3_BUCKET_NAME) the model is read from the
    bucket when it is there, else fetched from the Hub and uploaded to the
    bucket (unless --no-s3-upload; without AWS credentials it stays local).
    --make-public also publishes its card and config, readable by anyone.

    \b
    Examples:
      hgloc download-model google-bert/bert-base-uncased
      hgloc download-model openai-community/gpt2 --revision main --refresh
      hgloc download-model openai-community/gpt2 --full-model
      hgloc download-model openai-community/gpt2 --full-model --include "*.json" --include "*.txt"
      hgloc download-model google-bert/bert-base-uncased --full-model --exclude "*.h5"
      hgloc download-model microsoft/DialoGPT-medium --no-s3-upload
      HGLOC_S3_BUCKET_NAME=team-models hgloc download-model custom-org/custom-model --make-public
    """
    import anyio

    from hgloc.cli._bucket_flags import check_share_flags, no_credentials_note, upload_allowed
    from hgloc.cli._bytes import byte_progress
    from hgloc.localize import Localizer, Source

    ref = parse_ref(model_id, revision)
    allow, ignore = full_model_patterns(full_model, include, exclude)
    config = settings.config()
    check_share_flags(config, make_public=make_public, no_s3_upload=no_s3_upload)

    async def run() -> tuple[ModelResult, bool, ModelRecord | None]:
        async with Localizer(config) as loc:
            upload = await upload_allowed(loc, upload=not no_s3_upload, make_public=make_public)
            with byte_progress(str(ref), quiet=settings.quiet) as on_bytes:
                result = await loc.download(
                    ref.model_id,
                    ref.revision,
                    refresh=refresh,
                    metadata_only=not full_model,
                    allow_patterns=allow,
                    ignore_patterns=ignore,
                    on_bytes=on_bytes,
                    upload=upload,
                    make_public=make_public,
                )
            record = None
            if full_model and result.ok and not settings.quiet:
                # The result carries no sizes: the folder's metadata lists every file.
                record = await loc.models.load(loc.model_prefix(ref.model_id, ref.revision))
            return result, upload, record

    with model_errors(ref):
        result, upload, record = anyio.run(run)
    if not result.ok:
        # Cached, but the upload failed: the core returns that as a result, it does not raise.
        raise CliError(f"{ref}: {result.error or 'the upload to the team bucket failed'}")
    assert result.path is not None  # a download that did not raise has a place
    if settings.quiet:
        click.echo(result.path)
        return
    about = f"commit {_output.short_commit(result.commit)}"
    if record is not None:
        about = f"{_contents(record)}, {about}, {_files_and_size(record)}"
    click.echo(_download_line(result, ref, about, refresh=refresh, make_public=make_public))
    if result.source is Source.HUB and config.has_bucket and not upload and not no_s3_upload:
        click.echo(no_credentials_note(config, f"{ref} is cached locally only"), err=True)


def _contents(record: ModelRecord) -> str:
    """``full model`` or, when patterns left files of the repo out, ``selected files``."""
    return "full model" if record.is_full_model else "selected files"


def _files_and_size(record: ModelRecord) -> str:
    """``12 files, 1.2 GB``: what the model folder holds."""
    from hgloc.cli._bytes import human_size

    count = len(record.files)
    size = sum(f.size for f in record.files.values())
    return f"{count} {'file' if count == 1 else 'files'}, {human_size(size)}"


def _download_line(
    result: ModelResult, ref: ModelRef, about: str, *, refresh: bool, make_public: bool
) -> str:
    """What download-model did, in one line: from where, to where, and whether it was shared.

    ``about`` goes in the parentheses: the commit, and for full models what the folder holds.
    The core says where it shared the model (``result.shared``), if it did.
    """
    from hgloc.localize import Source, Status

    public = " (public)" if make_public else ""
    shared = result.shared
    if result.source in (Source.BUCKET, Source.PUBLIC):
        which = "team bucket" if result.source is Source.BUCKET else "team bucket's public models"
        line = f"Copied {ref} ({about}) from the {which} to {result.path}"
        return f"{line}; made it public in {shared}" if shared else line
    if result.status is Status.FETCHED:
        line = f"Downloaded {ref} ({about}) to {result.path}"
        return f"{line} and shared it in {shared}{public}" if shared else line
    if refresh:
        line = f"{ref} is up to date ({about}) in {result.path}"
    else:
        line = f"{ref} is already cached ({about}) in {result.path}"
    if shared:
        return f"{line}; shared it in {shared}{public}"
    if refresh or result.commit == ref.revision:
        return line  # a commit asked for by its id never moves: nothing to refresh
    return f"{line}; --refresh checks the Hub for a newer commit"


@click.command("list-local-models")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_settings
def list_local_models(settings: Settings, as_json: bool) -> None:
    """List the models the local store holds.

    On a terminal: a table (past 1,000 models, aligned lines). Piped: one
    aligned line per model. --json prints a list of the documented dicts, one
    a line (model_id, revision, path, has_card, has_config, has_tokenizer,
    is_full_model, is_public, commit, cached_timestamp, ambiguous).

    \b
    Examples:
      hgloc list-local-models
      hgloc --store /data/models list-local-models --json
    """
    import anyio

    # The store alone, not a Localizer: listing needs no Hub client, and its
    # imports would be a fifth of the command's time over 10,000 models.
    from hgloc.store import cached_models

    config = settings.config()
    with model_errors(config.store_path):
        found = anyio.run(cached_models, config)
    models = sorted(found, key=lambda m: (m.model_id, m.revision or ""))
    if as_json:
        _output.echo_json_records(m.as_dict() for m in models)
    elif models:
        _output.print_models(models, root=str(config.store_path))
    elif not settings.quiet:
        click.echo(
            f"No models in {config.store_path}; cache one with `{prog_name()} download-model ID`",
            err=True,
        )


async def _cached_or_hub(config: Config, ref: ModelRef, what: str, *, try_hub: bool) -> Any:
    """The card (``what="card"``) or the config, from the store, else from the Hub if allowed."""
    from hgloc.localize import Localizer, find_renamed

    async with Localizer(config) as loc:
        if what == "card":
            found: Any = await loc.cached_card(ref.model_id, ref.revision)
        else:
            found = await loc.cached_config(ref.model_id, ref.revision)
        if found is not None:
            return found
        # A name the Hub redirects (a renamed repo) to a model the store holds.
        if await find_renamed(loc, ref.model_id, ref.revision) is not None:
            if what == "card":
                return await loc.cached_card(ref.model_id, ref.revision)
            return await loc.cached_config(ref.model_id, ref.revision)
        if try_hub:
            if what == "card":
                return await loc.hub_card(ref.model_id, ref.revision)
            return await loc.hub_config(ref.model_id, ref.revision)
        cached = await loc.cached(ref.model_id, ref.revision)
    file = "model card (README.md)" if what == "card" else "config.json"
    if cached is not None:
        raise CliError(
            f"{ref} is cached in {cached.path} but its repo has no {file}; "
            "pass --try-huggingface to ask the Hub"
        )
    raise CliError(
        f"{ref} is not cached in {config.store_path}: run `{prog_name()} download-model {ref}` "
        "first, or pass --try-huggingface to read it from the Hub"
    )


def _load(settings: Settings, ref: ModelRef, what: str, try_hub: bool) -> Any:
    import anyio

    config = settings.config()
    with model_errors(ref):
        return anyio.run(lambda: _cached_or_hub(config, ref, what, try_hub=try_hub))


_TRY_HF_HELP = "Read it from the Hub when the store does not hold it (nothing is stored)."


@click.command("show-model-card")
@click.argument("model_id")
@click.option("-r", "--revision", help=REVISION_HELP)
@click.option("--try-huggingface", is_flag=True, help=_TRY_HF_HELP)
@pass_settings
def show_model_card(
    settings: Settings, model_id: str, revision: str | None, try_huggingface: bool
) -> None:
    """Show a model's card from the store.

    Rendered as Markdown on a terminal; the raw text when piped. Exit code 1
    when the model is not cached (unless --try-huggingface).

    \b
    Examples:
      hgloc show-model-card google-bert/bert-base-uncased
      hgloc show-model-card openai-community/gpt2 --try-huggingface
      hgloc show-model-card openai-community/gpt2 > gpt2.md
    """
    ref = parse_ref(model_id, revision)
    card = _load(settings, ref, "card", try_huggingface)
    _output.print_card(card, title=str(ref))


@click.command("show-model-config")
@click.argument("model_id")
@click.option("-r", "--revision", help=REVISION_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print exactly the JSON, nothing else.")
@click.option("--try-huggingface", is_flag=True, help=_TRY_HF_HELP)
@pass_settings
def show_model_config(
    settings: Settings,
    model_id: str,
    revision: str | None,
    as_json: bool,
    try_huggingface: bool,
) -> None:
    """Show a model's config.json from the store.

    Pretty JSON; on a terminal, preceded by a summary (model type,
    architectures, hidden size, layers, vocabulary). --json prints only the
    JSON (NaN stays NaN, as Python's json writes it). Exit code 1 when the
    model is not cached (unless --try-huggingface).

    \b
    Examples:
      hgloc show-model-config google-bert/bert-base-uncased
      hgloc show-model-config openai-community/gpt2 --json | jq .n_layer
    """
    ref = parse_ref(model_id, revision)
    config = _load(settings, ref, "config", try_huggingface)
    if as_json:
        _output.echo_json(config)
    else:
        _output.print_config(config, title=str(ref))
