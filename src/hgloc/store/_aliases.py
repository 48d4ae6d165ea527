"""Other names of stored models: repos the Hub renamed, so either name finds the copy.

``gpt2`` now lives at ``openai-community/gpt2``. When the Hub redirects one
name to the other, the store records the name that was not used for the
folder in one small file at its root, ``.hgloc_aliases.json``
(``{"aliases": {name: stored id}}``). HG-Localization skips names starting
with ``.``, so the file does not disturb it. Reads consult it only after the
model's own folders, and offline too.
"""

from __future__ import annotations

import json
import logging

from hgloc.backends import StorageBackend
from hgloc.errors import HglocError, InvalidModelIdError, ObjectNotFoundError
from hgloc.layout import validate_model_id

__all__ = ["ALIASES_KEY", "Aliases", "resolve_alias"]

logger = logging.getLogger("hgloc")

ALIASES_KEY = ".hgloc_aliases.json"


class Aliases:
    """The alias index of one store."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend

    async def read(self) -> dict[str, str]:
        """Every alias: ``{other name: stored id}``; empty when there is none or it is damaged."""
        try:
            raw = await self.backend.read(ALIASES_KEY)
        except ObjectNotFoundError:
            return {}
        try:
            data = json.loads(raw).get("aliases", {})
            return {str(k): str(v) for k, v in data.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            logger.warning("ignoring %s: %s", self.backend.location(ALIASES_KEY), exc)
            return {}

    async def resolve(self, model_id: str) -> str | None:
        """The stored id ``model_id`` is another name of, or ``None``."""
        return (await self.read()).get(model_id)

    async def add(self, alias: str, model_id: str) -> None:
        """Record ``alias`` as another name of ``model_id``; a failure to write is only logged."""
        try:
            validate_model_id(alias)
            validate_model_id(model_id)
        except InvalidModelIdError:
            return
        known = await self.read()
        if alias == model_id or known.get(alias) == model_id:
            return
        known[alias] = model_id
        data = {"hgloc_aliases": 1, "aliases": dict(sorted(known.items()))}
        try:
            await self.backend.write(ALIASES_KEY, json.dumps(data, indent=2).encode())
        except (OSError, HglocError) as exc:  # a read-only store still serves the model
            logger.debug("could not record the alias %s -> %s: %s", alias, model_id, exc)
        else:
            logger.info("recorded %s as another name of %s", alias, model_id)


async def resolve_alias(backend: StorageBackend, model_id: str) -> str | None:
    """The id a store holds ``model_id`` under when the Hub knows it by both names, else ``None``.

    For callers that look folders up by id (``hgloc serve``): try the id, then this.
    """
    return await Aliases(backend).resolve(model_id)
