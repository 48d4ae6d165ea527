"""Collections: named, ordered sets of models, each pinned at a revision, shared by a team.

The Hub's collection model (slug, title, description, owner, items with a
position and a note) plus what the Hub lacks: a pinned revision per item and
file patterns for full models. ``_model`` is the data, ``_places`` where it is
kept (store, bucket, public manifest), ``_shelves`` which of them a
configuration uses, ``_api`` the documented functions.
"""

from __future__ import annotations

from hgloc.collections._api import (
    add_to_collection,
    create_collection,
    get_collection,
    list_collections,
    lock_collection,
    remove_from_collection,
    sync_collection,
)
from hgloc.collections._model import Collection, CollectionItem, validate_slug
from hgloc.collections._places import BUCKET_FOLDER, PUBLIC_MANIFEST
from hgloc.collections._shelves import CollectionExistsError, CollectionNotFoundError, Collections

__all__ = [
    "BUCKET_FOLDER",
    "PUBLIC_MANIFEST",
    "Collection",
    "CollectionExistsError",
    "CollectionItem",
    "CollectionNotFoundError",
    "Collections",
    "add_to_collection",
    "create_collection",
    "get_collection",
    "list_collections",
    "lock_collection",
    "remove_from_collection",
    "sync_collection",
    "validate_slug",
]
