"""What the localizer returns: per-model results, where they came from, bulk reports."""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["ModelResult", "PrefetchReport", "Source", "Status", "failure"]


class Status(enum.StrEnum):
    """What happened to one model of a bulk run."""

    FETCHED = "fetched"  # downloaded (or refreshed) and stored
    UPLOADED = "uploaded"  # put in the team bucket
    SKIPPED = "skipped"  # already cached (and, with refresh, still current)
    FAILED = "failed"


class Source(enum.StrEnum):
    """Where a model's bytes came from; a ``str``, so JSON reports hold the plain word."""

    STORE = "store"  # this store held it already
    BUCKET = "bucket"  # copied from the team bucket
    PUBLIC = "public"  # read from the bucket's public manifest, without credentials
    HUB = "hub"  # fetched from the Hub


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
    source: Source | None = None
    shared: str | None = None  # where in the bucket it was uploaded, if it was
    warnings: tuple[str, ...] = ()  # what went wrong without failing it (a bucket skipped)
    upload_pending: bool = False  # the bucket was down: sync-all uploads it later

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED

    @property
    def label(self) -> str:
        """``model_id`` or ``model_id@revision``, as users write it."""
        return self.model_id if self.revision is None else f"{self.model_id}@{self.revision}"

    def failed(self, error: str, error_type: str) -> ModelResult:
        """This result turned into a failure, saying why."""
        return attrs.evolve(self, status=Status.FAILED, error=error, error_type=error_type)

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
            "source": None if self.source is None else self.source.value,
            "shared": self.shared,
            "warnings": list(self.warnings),
        }


def failure(
    model_id: str, revision: str | None, exc: BaseException, seconds: float = 0.0
) -> ModelResult:
    """The result of a model whose operation raised ``exc``."""
    return ModelResult(
        model_id,
        revision,
        Status.FAILED,
        error=str(exc) or type(exc).__name__,
        error_type=type(exc).__name__,
        seconds=seconds,
    )


@attrs.frozen(repr=False)
class PrefetchReport:
    """The per-model outcome of a bulk run, in the order the ids were given."""

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
