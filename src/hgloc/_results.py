"""What the localizer returns: cached models, per-model results, bulk reports."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from hgloc.layout import ModelRecord

__all__ = ["CachedModel", "ModelResult", "PrefetchReport", "Status"]


@attrs.frozen
class CachedModel:
    """A model the store holds completely.

    ``as_dict()`` gives the documented shape of ``list_local_models()``.
    """

    model_id: str
    revision: str | None
    commit: str | None
    path: str
    has_card: bool
    has_config: bool
    is_public: bool
    is_full_model: bool
    cached_timestamp: str
    files: tuple[str, ...]

    @classmethod
    def from_record(cls, record: ModelRecord, path: str) -> CachedModel:
        return cls(
            model_id=record.model_id,
            revision=record.revision,
            commit=record.commit,
            path=path,
            has_card=record.has_card,
            has_config=record.has_config,
            is_public=record.is_public,
            is_full_model=record.is_full_model,
            cached_timestamp=record.cached_timestamp,
            files=tuple(sorted(record.files)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "commit": self.commit,
            "has_card": self.has_card,
            "has_config": self.has_config,
            "is_public": self.is_public,
            "is_full_model": self.is_full_model,
            "path": self.path,
            "cached_timestamp": self.cached_timestamp,
        }


class Status(enum.StrEnum):
    """What happened to one model of a bulk run."""

    FETCHED = "fetched"  # downloaded (or refreshed) and stored
    UPLOADED = "uploaded"  # put in the team bucket
    SKIPPED = "skipped"  # already cached (and, with refresh, still current)
    FAILED = "failed"


@attrs.frozen
class ModelResult:
    """One model's outcome: its status, where it is, or why it failed."""

    model_id: str
    revision: str | None
    status: Status
    path: str | None = None
    commit: str | None = None
    error: str | None = None
    error_type: str | None = None
    seconds: float = 0.0
    source: str | None = None  # where the bytes came from: hub, bucket, public, store
    shared: str | None = None  # where in the bucket it was uploaded, if it was

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED

    @property
    def label(self) -> str:
        """``model_id`` or ``model_id@revision``, as users write it."""
        return self.model_id if self.revision is None else f"{self.model_id}@{self.revision}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "status": self.status.value,
            "path": self.path,
            "commit": self.commit,
            "error": self.error,
            "error_type": self.error_type,
            "seconds": round(self.seconds, 4),
            "source": self.source,
            "shared": self.shared,
        }


@attrs.frozen(repr=False)
class PrefetchReport:
    """The per-model outcome of a bulk prefetch, in the order the ids were given."""

    results: tuple[ModelResult, ...]
    seconds: float

    def __repr__(self) -> str:  # a report can hold thousands of results
        return (
            f"PrefetchReport(total={len(self.results)}, fetched={len(self.fetched)}, "
            f"skipped={len(self.skipped)}, failed={len(self.failed)}, seconds={self.seconds:.2f})"
        )

    @property
    def fetched(self) -> list[ModelResult]:
        return [r for r in self.results if r.status is Status.FETCHED]

    @property
    def uploaded(self) -> list[ModelResult]:
        return [r for r in self.results if r.status is Status.UPLOADED]

    @property
    def skipped(self) -> list[ModelResult]:
        return [r for r in self.results if r.status is Status.SKIPPED]

    @property
    def failed(self) -> list[ModelResult]:
        return [r for r in self.results if r.status is Status.FAILED]

    @property
    def ok(self) -> bool:
        """True when no model failed."""
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": len(self.results),
            "fetched": len(self.fetched),
            "uploaded": len(self.uploaded),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "seconds": round(self.seconds, 3),
            "models": [r.as_dict() for r in self.results],
        }
