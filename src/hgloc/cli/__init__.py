"""hgloc's command line: one click group, reachable as ``hgloc``, ``python -m hgloc``
and ``python -m hg_localization.cli``.

Commands live in modules that each define ``register(group)``. To add a family
of commands (S3 sync, full-model downloads), write ``hgloc/cli/_<name>.py``
with a ``register`` function and list it in ``_COMMAND_MODULES`` below.
"""

from __future__ import annotations

from hgloc.cli import _commands, _prefetch, _s3_commands, _serve_command, _verify_command
from hgloc.cli._app import cli

__all__ = ["cli", "main"]

_COMMAND_MODULES = (_commands, _prefetch, _s3_commands, _verify_command, _serve_command)

for _module in _COMMAND_MODULES:
    _module.register(cli)


def main() -> None:
    """Entry point of the ``hgloc`` console script; exits with the command's code."""
    cli()
