"""A collection as data: the Hub's model (slug, title, items with position and note) plus pins.

Pure values and their JSON, no I/O. The stored JSON is hgloc's own
(``as_json`` / ``from_json``); :meth:`Collection.hub_json` is the shape the
Hub's ``GET /api/collections/{slug}`` answers, which stock ``huggingface_hub``
parses into its ``Collection``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from hgloc.errors import InvalidModelIdError
from hgloc.layout import validate_model_id, validate_revision

__all__ = [
    "DEFAULT_OWNER",
    "Collection",
    "CollectionItem",
    "collection_file_name",
    "validate_slug",
]

DEFAULT_OWNER = "local"
_FORMAT = 1


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _hub_time(iso: str) -> str:
    """A stored time as the Hub writes it (``2024-11-16T00:27:02.000Z``: UTC, a ``Z``).

    >>> _hub_time("2024-11-16T00:27:02.123456+00:00")
    '2024-11-16T00:27:02.123Z'
    """
    try:
        when = dt.datetime.fromisoformat(iso).astimezone(dt.UTC)
    except ValueError:
        when = dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _object_id() -> str:
    return secrets.token_hex(12)  # the Hub's item ids are 24 hex digits


def validate_slug(slug: str) -> str:
    """``owner/name`` or ``name``, each part as a Hub repo name; else ``InvalidModelIdError``.

    >>> validate_slug("team/encoders")
    'team/encoders'
    """
    try:
        return validate_model_id(slug)
    except InvalidModelIdError:
        shown = slug if isinstance(slug, str) and len(slug) <= 80 else repr(slug)[:80]
        raise InvalidModelIdError(
            f"invalid collection slug {shown!r}: use 'name' or 'owner/name' (ASCII letters, "
            "digits, '-', '_', '.')"
        ) from None


def collection_file_name(slug: str) -> str:
    """The JSON file a collection is stored in: one-to-one, since a slug part has no ``--``.

    >>> collection_file_name("team/encoders")
    'team--encoders.json'
    """
    return validate_slug(slug).replace("/", "--") + ".json"


def _patterns(value: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(value or ())


@attrs.frozen(kw_only=True)
class CollectionItem:
    """One model of a collection: pinned at a revision (branch, tag or commit), with a note.

    ``full``: every file of the repo, narrowed by ``include`` globs (empty: all);
    else the card and ``config.json`` only.
    """

    model_id: str = attrs.field(validator=lambda _i, _a, v: validate_model_id(v))
    revision: str | None = attrs.field(
        default=None, validator=lambda _i, _a, v: validate_revision(v)
    )
    note: str | None = None
    full: bool = False
    include: tuple[str, ...] = attrs.field(default=(), converter=_patterns)
    item_id: str = attrs.field(factory=_object_id)
    added: str = attrs.field(factory=_now)

    @property
    def ref(self) -> str:
        """``model_id`` or ``model_id@revision``."""
        return self.model_id if self.revision is None else f"{self.model_id}@{self.revision}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.model_id, "_id": self.item_id, "added": self.added}
        if self.revision is not None:
            out["revision"] = self.revision
        if self.note:
            out["note"] = self.note
        if self.full:
            out["full"] = True
        if self.include:
            out["include"] = list(self.include)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CollectionItem:
        return cls(
            model_id=str(data["id"]),
            revision=data.get("revision"),
            note=data.get("note"),
            full=bool(data.get("full", False)),
            include=[str(p) for p in data.get("include", ())],
            item_id=str(data.get("_id") or _object_id()),
            added=str(data.get("added") or ""),
        )

    def hub_json(self, position: int) -> dict[str, Any]:
        """The Hub's item shape; the pin and the patterns ride along as extra keys."""
        out: dict[str, Any] = {
            "_id": self.item_id,
            "id": self.model_id,
            "type": "model",
            "position": position,
            "revision": self.revision,
            "full": self.full,
            "include": list(self.include),
        }
        if self.note:
            out["note"] = {"text": self.note, "html": self.note}
        return out


def _tuple_of_items(items: Iterable[CollectionItem]) -> tuple[CollectionItem, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True)
class Collection:
    """A named, ordered set of pinned models; the position of an item is its index."""

    slug: str = attrs.field(validator=lambda _i, _a, v: validate_slug(v))
    title: str
    description: str | None = None
    private: bool = True
    items: tuple[CollectionItem, ...] = attrs.field(default=(), converter=_tuple_of_items)
    created: str = attrs.field(factory=_now)
    last_updated: str = attrs.field(factory=_now)
    generation: int = 0  # one more on each stored update: the newer of two copies wins

    @property
    def owner(self) -> str:
        """The part of the slug before ``/`` (``local`` for a one-part slug)."""
        owner, sep, _ = self.slug.partition("/")
        return owner if sep else DEFAULT_OWNER

    def find(self, model_id: str) -> list[CollectionItem]:
        """The items of ``model_id`` (any revision)."""
        return [item for item in self.items if item.model_id == model_id]

    def with_item(self, item: CollectionItem) -> Collection:
        """Add ``item`` at the end, or replace the item of the same model and revision in place."""
        items = list(self.items)
        for index, held in enumerate(items):
            if (held.model_id, held.revision) == (item.model_id, item.revision):
                items[index] = attrs.evolve(item, item_id=held.item_id, added=held.added)
                break
        else:
            items.append(item)
        return attrs.evolve(self, items=tuple(items), last_updated=_now())

    def without(
        self, model_id: str, revision: str | None = None, *, any_revision: bool
    ) -> Collection:
        """Without the items of ``model_id`` (only at ``revision`` unless ``any_revision``)."""
        items = tuple(
            item
            for item in self.items
            if item.model_id != model_id or not (any_revision or item.revision == revision)
        )
        return attrs.evolve(self, items=items, last_updated=_now())

    def as_json(self) -> dict[str, Any]:
        """hgloc's stored form."""
        out: dict[str, Any] = {
            "hgloc_collection": _FORMAT,
            "slug": self.slug,
            "title": self.title,
            "private": self.private,
            "created": self.created,
            "lastUpdated": self.last_updated,
            "generation": self.generation,
            "items": [item.as_json() for item in self.items],
        }
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Collection:
        """Parse the stored form; ``ValueError`` / ``KeyError`` / ``TypeError`` when damaged."""
        return cls(
            slug=str(data["slug"]),
            title=str(data["title"]),
            description=data.get("description"),
            private=bool(data.get("private", True)),
            items=[CollectionItem.from_json(item) for item in data.get("items", [])],
            created=str(data.get("created") or ""),
            last_updated=str(data.get("lastUpdated") or ""),
            generation=int(data.get("generation", 0)),
        )

    def hub_json(self, *, position: int | None = 0) -> dict[str, Any]:
        """The Hub's shape (``position=None`` leaves it out, as the Hub's listing does)."""
        out: dict[str, Any] = {
            "slug": self.slug,
            "title": self.title,
            "description": self.description,
            "owner": self.owner,
            "items": [item.hub_json(i) for i, item in enumerate(self.items)],
            "lastUpdated": _hub_time(self.last_updated),
            "private": self.private,
            "theme": "gray",
            "upvotes": 0,
            "isUpvotedByUser": False,
            "gating": False,
        }
        if position is not None:
            out["position"] = position
        return out
