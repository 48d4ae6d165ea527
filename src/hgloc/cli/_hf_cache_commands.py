"""``hgloc export`` and ``hgloc import``: into and out of huggingface_hub's cache."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

import hgloc.cli._output as _output
from hgloc.cli._app import EXIT_FAILED, BadInputError, Settings, model_errors, pass_settings
from hgloc.cli._bytes import byte_progress, human_size
from hgloc.cli._options import model_list_options
from hgloc.cli._prefetch import read_model_list

if TYPE_CHECKING:
    from hgloc.hf_cache import ExportReport, ImportReport

__all__ = ["register"]

_FORMATS = ("hf-cache", "dir", "tar")


def register(group: click.Group) -> None:
    """Add ``export`` and ``import`` to ``group``."""
    group.add_command(export)
    group.add_command(import_)


@click.command("export")
@click.argument("model_ids", nargs=-1, metavar="[MODEL_ID[@REV]]...")
@model_list_options()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(path_type=Path),
    help="The cache folder (hf-cache), the parent folder (dir), or the archive (tar).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="hf-cache",
    show_default=True,
    help="huggingface_hub's cache layout, plain folders, or one tar archive.",
)
@click.option(
    "--copy",
    is_flag=True,
    help="Copy every file; never hard-link the store's files (reflinks are still used).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@pass_settings
def export(
    settings: Settings,
    model_ids: tuple[str, ...],
    files: tuple[str, ...],
    revision: str | None,
    to: Path,
    fmt: str,
    copy: bool,
    as_json: bool,
) -> None:
    """Write stored models where machines with no server load them.

    --format hf-cache (the default) lays the models out as huggingface_hub's
    cache: run anything with HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1 and
    from_pretrained("org/name"), snapshot_download, hf_hub_download find them,
    at their commit, with refs for branches and tags. `hf cache ls` and
    `hf cache verify` accept it. Metadata-only models carry their card and
    config only: loading their weights fails offline, as it should.

    --format dir writes DIR/org/name (org/name@rev for a revision) for
    from_pretrained(path); --format tar writes one archive (hub/ plus a
    manifest of every file's hash) to carry across an air gap.

    On the store's filesystem, files are reflinked or (1 MiB and up) hard-linked:
    no bytes copied, no space used. Elsewhere they are copied, each checked
    against its recorded hash, with a byte progress display on a terminal.
    Makes no request. Exit code 1 when a model failed.

    \b
    Examples:
      hgloc export google-bert/bert-base-uncased --to /mnt/usb/hub
      hgloc export -f models.txt --to ./airgap.tar --format tar
      hgloc export org/model@v1.0 --to ./models --format dir
      HF_HUB_CACHE=/mnt/usb/hub HF_HUB_OFFLINE=1 python train.py
    """
    import anyio

    from hgloc.hf_cache import export_models

    refs, problems = read_model_list(model_ids, files, revision)
    if problems:
        for problem in problems:
            click.echo(f"Error: {problem}", err=True)
        raise BadInputError(f"{len(problems)} bad model entries; nothing was exported")
    if not refs:
        raise click.UsageError("give model ids as arguments or with -f FILE")
    config = settings.config()
    label = f"export {len(refs)} model{'s' if len(refs) != 1 else ''}"
    with model_errors(to), byte_progress(label, quiet=settings.quiet, json_output=as_json) as bar:
        report = anyio.run(
            lambda: export_models(
                refs, to, format=fmt, config=config, hard_links=not copy, on_bytes=bar
            )
        )
    _report_export(report, settings, as_json)


def _report_export(report: ExportReport, settings: Settings, as_json: bool) -> None:
    if as_json:
        _output.echo_json(report.as_dict())
    for model in report.models:
        if not model.ok:
            click.echo(f"FAILED  {model.ref}: {_output.one_line(model.error or '')}", err=True)
        elif not settings.quiet and not as_json:
            shared = f", {human_size(model.linked)} linked" if model.linked else ""
            kind = "full model" if model.is_full_model else "card and config"
            click.echo(
                f"ok      {model.ref} ({_output.short_commit(model.commit)}): {model.files} "
                f"files, {human_size(model.size)}{shared}, {kind}"
            )
    if not settings.quiet:
        done = sum(1 for m in report.models if m.ok)
        hint = ""
        if report.format.value == "hf-cache" and done:
            hint = f"; use it with HF_HUB_CACHE={report.target} HF_HUB_OFFLINE=1"
        click.echo(
            f"exported {done} of {len(report.models)} models to {report.target} "
            f"({report.format.value}) in {report.seconds:.1f}s{hint}",
            err=as_json,
        )
    if not report.ok:
        click.get_current_context().exit(EXIT_FAILED)


@click.command("import")
@click.argument("cache_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.argument("model_ids", nargs=-1, metavar="[MODEL_ID[@REV]]...")
@click.option(
    "--from",
    "from_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A plain folder of one repo at one commit (with --model and --commit).",
)
@click.option("--model", "model_id", help="With --from: the repo the folder holds.")
@click.option("--commit", help="With --from: the commit it holds (40 hex).")
@click.option("-r", "--revision", help="With --from: store it as this revision (default: main).")
@click.option("--partial", is_flag=True, help="Adopt snapshots missing files (not as full models).")
@click.option("--replace", is_flag=True, help="Replace what the store holds for the same model.")
@click.option("--copy", is_flag=True, help="Copy every file; never hard-link the cache's files.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@pass_settings
def import_(
    settings: Settings,
    cache_dir: Path | None,
    model_ids: tuple[str, ...],
    from_dir: Path | None,
    model_id: str | None,
    commit: str | None,
    revision: str | None,
    partial: bool,
    replace: bool,
    copy: bool,
    as_json: bool,
) -> None:
    """Adopt models from a huggingface_hub cache into the store, every file checked.

    HF_CACHE_DIR is a cache (HF_HUB_CACHE, e.g. ~/.cache/huggingface/hub).
    MODEL_ID narrows it: org/name takes every snapshot of the repo,
    org/name@rev the one a ref or commit names. refs/main becomes the
    store's default-branch model, a tag or branch a model at that revision.

    Each file is checked against its hash (the blob name: sha256 for LFS
    files, git sha1 for the others) before the model counts. Damaged
    snapshots, and snapshots whose tree listing names missing files, are
    reported and left out (--partial adopts the files that are there). Nothing
    is downloaded; `hgloc sync-all-local-models-to-s3` then shares the models through the bucket.

    --from DIR --model ID --commit C adopts a plain folder (`hf download
    --local-dir`, `hgloc export --format dir`); its hashes come from its
    .cache/huggingface bookkeeping, else from the Hub's file list.

    \b
    Examples:
      hgloc import ~/.cache/huggingface/hub
      hgloc import ~/.cache/huggingface/hub google-bert/bert-base-uncased gpt2@v1.0
      hgloc import --from ./bert --model google-bert/bert-base-uncased --commit 86b5e09...
    """
    import anyio

    from hgloc.hf_cache import import_cache, import_folder

    if (cache_dir is None) == (from_dir is None):
        raise click.UsageError("give HF_CACHE_DIR, or --from DIR with --model and --commit")
    config = settings.config()
    hard_links = not copy
    with byte_progress("import", quiet=settings.quiet, json_output=as_json) as bar:
        if from_dir is not None:
            if not model_id or not commit or model_ids:
                raise click.UsageError("--from DIR takes --model ID and --commit C, no MODEL_ID")
            folder, model, sha = from_dir, model_id, commit
            with model_errors(model):
                report = anyio.run(
                    lambda: import_folder(
                        folder,
                        model,
                        sha,
                        revision=revision,
                        config=config,
                        allow_partial=partial,
                        replace=replace,
                        hard_links=hard_links,
                        on_bytes=bar,
                    )
                )
        else:
            if model_id or commit or revision:
                raise click.UsageError("--model, --commit and --revision go with --from")
            refs, problems = read_model_list(model_ids, (), None)
            if problems:
                raise BadInputError("; ".join(problems))
            source = cache_dir
            assert source is not None
            with model_errors(source):
                report = anyio.run(
                    lambda: import_cache(
                        source,
                        refs or None,
                        config=config,
                        allow_partial=partial,
                        replace=replace,
                        hard_links=hard_links,
                        on_bytes=bar,
                    )
                )
    _report_import(report, settings, as_json)


def _report_import(report: ImportReport, settings: Settings, as_json: bool) -> None:
    if as_json:
        _output.echo_json(report.as_dict())
    for model in report.models:
        where = f"{model.ref} ({_output.short_commit(model.commit)})"
        if not model.ok:
            reason = _output.one_line(model.reason or "")
            click.echo(f"{model.status.value.upper():<8}{where}: {reason}", err=True)
        elif not settings.quiet and not as_json:
            note = f": {model.reason}" if model.reason else ""
            kind = "full model" if model.is_full_model else "some files"
            click.echo(
                f"{model.status.value:<9}{where} {model.files} files, "
                f"{human_size(model.size)}, {kind}{note}"
            )
    if not settings.quiet:
        click.echo(
            f"{len(report.imported)} imported, {len(report.failed)} refused of "
            f"{len(report.models)} snapshots from {report.source} in {report.seconds:.1f}s",
            err=as_json,
        )
    if not report.ok:
        click.get_current_context().exit(EXIT_FAILED)
