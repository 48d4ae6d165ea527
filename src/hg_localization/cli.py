"""``python -m hg_localization.cli`` and ``hg-localize``: the documented command line, hgloc's.

The ``*_cmd`` names are HG-Localization's names for the same click commands.
"""

from __future__ import annotations

from hgloc.cli import cli, main

__all__ = [
    "cli",
    "download_model_cmd",
    "list_local_models_cmd",
    "list_s3_models_cmd",
    "main",
    "show_model_card_cmd",
    "show_model_config_cmd",
    "sync_all_local_models_to_s3_cmd",
    "sync_local_model_to_s3_cmd",
]

download_model_cmd = cli.commands["download-model"]
list_local_models_cmd = cli.commands["list-local-models"]
list_s3_models_cmd = cli.commands["list-s3-models"]
show_model_card_cmd = cli.commands["show-model-card"]
show_model_config_cmd = cli.commands["show-model-config"]
sync_local_model_to_s3_cmd = cli.commands["sync-local-model-to-s3"]
sync_all_local_models_to_s3_cmd = cli.commands["sync-all-local-models-to-s3"]

if __name__ == "__main__":
    main()
