"""hgloc's command line: one click group, reachable as ``hgloc``, ``python -m hgloc``
and ``python -m hg_localization.cli``.

Each family of commands lives in its own module (see ``_main``); the options
they share are in ``_options`` and ``_bucket_flags``.
"""

from __future__ import annotations

from hgloc.cli._main import cli, main

__all__ = ["cli", "main"]
