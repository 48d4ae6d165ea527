"""``python -m hg_localization.cli``: the documented command line, served by hgloc's."""

from __future__ import annotations

from hgloc.cli import cli, main

__all__ = ["cli", "main"]

if __name__ == "__main__":
    main()
