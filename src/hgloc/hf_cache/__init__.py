"""Into and out of huggingface_hub's cache: export stored models for machines with no server,
adopt models from an existing cache into the store.

:func:`export_models` writes the cache layout (``hf-cache``), plain folders
(``dir``) or one archive (``tar``); :func:`import_cache` checks every file of a
cache's snapshots against its hash and stores the sound ones. ``_layout`` holds
huggingface_hub's names and paths as pure functions.
"""

from __future__ import annotations

from hgloc.hf_cache._export import export_models
from hgloc.hf_cache._import import import_cache, import_folder
from hgloc.hf_cache._results import (
    ExportedModel,
    ExportFormat,
    ExportReport,
    ImportedModel,
    ImportReport,
    ImportStatus,
)

__all__ = [
    "ExportFormat",
    "ExportReport",
    "ExportedModel",
    "ImportReport",
    "ImportStatus",
    "ImportedModel",
    "export_models",
    "import_cache",
    "import_folder",
]
