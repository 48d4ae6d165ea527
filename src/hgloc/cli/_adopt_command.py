"""`hgloc adopt`: name the model a folder written by HG-Localization holds."""

from __future__ import annotations

import click

from hgloc.cli._app import Settings, model_errors, pass_settings

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``adopt`` to ``group``."""
    group.add_command(adopt)


@click.command("adopt")
@click.argument("folder")
@click.argument("model_id")
@click.option(
    "-r", "--revision", help="Branch, tag or commit it holds (default: read from the folder name)."
)
@pass_settings
def adopt(settings: Settings, folder: str, model_id: str, revision: str | None) -> None:
    """Record that FOLDER, written by HG-Localization, holds MODEL_ID.

    HG-Localization names a folder by turning '/' into '_' and records no id,
    so a name like team-org_model_v2 could hold team-org/model_v2 or
    team-org_model/v2; hgloc lists such a folder under HG-Localization's guess
    and says so. FOLDER is the revision folder (a path, or relative to the
    store). The folder is not moved; its metadata file keeps HG-Localization's
    keys and gains the id, the revision and each file's size and hash,
    computed from the bytes on disk (`download-model --refresh` later replaces
    them with the Hub's).

    \b
    Examples:
      hgloc adopt team-org_model_v2/default_revision team-org/model_v2
      hgloc adopt /data/models/org_name/refs_pr_1 org/name --revision refs/pr/1
    """
    import anyio

    from hgloc._api import adopt as adopt_folder

    config = settings.config()
    with model_errors(model_id):
        model = anyio.run(lambda: adopt_folder(folder, model_id, revision, config=config))
    if not settings.quiet:
        label = model.model_id if model.revision is None else f"{model.model_id}@{model.revision}"
        click.echo(f"{model.path} now holds {label} ({len(model.files)} files)")
