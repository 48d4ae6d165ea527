"""Whole repos into a store: the plan at one commit, big files in verified byte ranges.

:class:`FullModelJob` brings one model folder to every (selected) file of its
repo; big files are fetched by :func:`fetch_big_file` through a staging folder
(``_staging``) so an interrupted run resumes. :class:`TransferSettings` tunes it.
"""

from __future__ import annotations

from hgloc.transfer._big_file import ByteProgress, TransferSettings
from hgloc.transfer._full_model import FullModelJob, Outcome, Patterns, RecordFactory
from hgloc.transfer._limits import NotEnoughSpaceError
from hgloc.transfer._staging import staging_root

__all__ = [
    "ByteProgress",
    "FullModelJob",
    "NotEnoughSpaceError",
    "Outcome",
    "Patterns",
    "RecordFactory",
    "TransferSettings",
    "staging_root",
]
