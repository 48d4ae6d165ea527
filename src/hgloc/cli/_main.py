"""The command group with every family of commands registered on it.

Commands live in modules that each define ``register(group)``. To add a family
of commands, write ``hgloc/cli/_<name>.py`` with a ``register`` function and
list it in ``_REGISTRARS`` below.
"""

from __future__ import annotations

from hgloc.cli._adopt_command import register as register_adopt
from hgloc.cli._app import cli
from hgloc.cli._collection_commands import register as register_collections
from hgloc.cli._commands import register as register_metadata
from hgloc.cli._facts_commands import register as register_facts
from hgloc.cli._hf_cache_commands import register as register_hf_cache
from hgloc.cli._prefetch import register as register_prefetch
from hgloc.cli._s3_commands import register as register_bucket
from hgloc.cli._serve_command import register as register_serve
from hgloc.cli._verify_command import register as register_verify
from hgloc.cli._versions_commands import register as register_versions

__all__ = ["cli", "main"]

_REGISTRARS = (
    register_metadata,
    register_prefetch,
    register_bucket,
    register_verify,
    register_serve,
    register_hf_cache,
    register_facts,
    register_adopt,
    register_versions,
    register_collections,
)

for _register in _REGISTRARS:
    _register(cli)


def main() -> None:
    """Entry point of the ``hgloc`` console script; exits with the command's code."""
    cli()
