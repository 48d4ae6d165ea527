"""What an export or an import did, per model: values and enums, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from hgloc.localize import ModelRef

__all__ = [
    "ExportFormat",
    "ExportReport",
    "ExportedModel",
    "ImportReport",
    "ImportStatus",
    "ImportedModel",
    "Meter",
]


def _plain(inst: type, field: attrs.Attribute[Any], value: Any) -> Any:
    if isinstance(value, ModelRef):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def as_dict(value: Any) -> dict[str, Any]:
    """A report as JSON-ready data (refs as ``org/name@rev``, enums as their values)."""
    out: dict[str, Any] = attrs.asdict(value, value_serializer=_plain)
    return out


class ExportFormat(enum.StrEnum):
    """Where an export writes: huggingface_hub's cache, plain folders, or one tar archive."""

    HF_CACHE = "hf-cache"
    DIR = "dir"
    TAR = "tar"


@attrs.frozen
class ExportedModel:
    """One model of an export: where it went, or why it did not."""

    ref: ModelRef
    commit: str | None = None
    path: str | None = None
    files: int = 0
    size: int = 0
    linked: int = 0  # bytes that share the store's blocks (reflinks, hard links, kept)
    is_full_model: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@attrs.frozen
class ExportReport:
    """Every model of one export, in the order asked, and where the export is."""

    target: str
    format: ExportFormat
    models: tuple[ExportedModel, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.models)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return as_dict(self)

    @property
    def failed(self) -> tuple[ExportedModel, ...]:
        return tuple(m for m in self.models if not m.ok)


class ImportStatus(enum.StrEnum):
    """What happened to one snapshot found in a cache."""

    IMPORTED = "imported"
    SKIPPED = "skipped"  # the store holds it already
    DAMAGED = "damaged"  # a file does not match its hash, or its blob is missing
    PARTIAL = "partial"  # the commit's tree listing names files the snapshot lacks
    FAILED = "failed"  # anything else (the store refused a write...)


@attrs.frozen
class ImportedModel:
    """One snapshot of the cache and what the import did with it."""

    ref: ModelRef
    commit: str
    status: ImportStatus
    files: int = 0
    size: int = 0
    is_full_model: bool = False
    path: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (ImportStatus.IMPORTED, ImportStatus.SKIPPED)


@attrs.frozen
class ImportReport:
    """Every snapshot an import looked at."""

    source: str
    models: tuple[ImportedModel, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.models)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return as_dict(self)

    @property
    def imported(self) -> tuple[ImportedModel, ...]:
        return tuple(m for m in self.models if m.status is ImportStatus.IMPORTED)

    @property
    def failed(self) -> tuple[ImportedModel, ...]:
        return tuple(m for m in self.models if not m.ok)


@attrs.define
class Meter:
    """Counts bytes for ``on_bytes(path, done, total)``: ``""`` is the whole run."""

    on_bytes: Callable[[str, int, int], object] | None
    total: int
    done: int = 0

    def start(self) -> None:
        if self.on_bytes is not None:
            self.on_bytes("", 0, self.total)

    def add(self, count: int) -> None:
        self.done += count
        if self.on_bytes is not None:
            self.on_bytes("", self.done, self.total)

    def file(self, path: str, size: int) -> Callable[[int], None]:
        """A per-chunk callback for one copied file, also counted in the whole."""
        done = 0

        def step(count: int) -> None:
            nonlocal done
            done += count
            self.add(count)
            if self.on_bytes is not None:
                self.on_bytes(path, done, size)

        return step
