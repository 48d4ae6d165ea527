"""Repos the Hub renamed: a name the store does not know may be another name of one it holds."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hgloc.errors import HglocError
from hgloc.layout import validate_model_id
from hgloc.store import Aliases, CachedModel

if TYPE_CHECKING:
    from hgloc.localize._localizer import Localizer

__all__ = ["find_renamed"]

logger = logging.getLogger("hgloc")


async def find_renamed(
    loc: Localizer, model_id: str, revision: str | None = None
) -> CachedModel | None:
    """The stored model the Hub now names ``model_id`` by another name, if any.

    For a name the store does not know: one request asks the Hub which repo it
    names (a renamed repo redirects); when the store holds that repo, the name
    is recorded as its alias, so it is found offline from then on. ``None``
    offline, on any Hub error, or when the store lacks the repo.
    """
    if loc.config.is_offline:
        return None
    try:
        info = await loc.source.model_info(validate_model_id(model_id))
    except HglocError as exc:
        logger.debug("could not ask the Hub about %s: %s", model_id, exc)
        return None
    canonical = info.get("id") or info.get("modelId")
    if not isinstance(canonical, str) or canonical == model_id:
        return None
    if await loc.cached(canonical, revision) is None:
        return None
    await Aliases(loc.backend).add(model_id, canonical)
    return await loc.cached(model_id, revision)
