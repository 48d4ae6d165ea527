"""Re-hashing stored files against their metadata: `hgloc verify`.

Every file of a cached model is read back (streamed) and compared with the
size and hash its metadata recorded when it was fetched. A damaged model can
be repaired: it stops counting as cached (its metadata is removed first) and
is fetched again; for full models only the damaged files are downloaded again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from hgloc._bucket import checked_stream
from hgloc.errors import HglocError, IntegrityError, ObjectNotFoundError
from hgloc.layout import METADATA_FILE, ModelRecord

if TYPE_CHECKING:
    from hgloc.backends import StorageBackend
    from hgloc.localizer import Localizer, ModelRef

__all__ = ["VerifyReport", "VerifyResult", "verify_models"]


@attrs.frozen
class VerifyResult:
    """One model's check: the problems found (none means intact) and what was done."""

    model_id: str
    revision: str | None
    where: str
    files: int
    bytes: int
    problems: tuple[str, ...] = ()
    damaged_files: tuple[str, ...] = ()
    repaired: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Intact, or repaired successfully."""
        return self.error is None and (not self.problems or self.repaired)

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "ok": self.ok}


@attrs.frozen(repr=False)
class VerifyReport:
    """Every model checked, in order."""

    results: tuple[VerifyResult, ...]
    seconds: float

    def __repr__(self) -> str:
        return f"VerifyReport(models={len(self.results)}, damaged={len(self.damaged)})"

    @property
    def damaged(self) -> list[VerifyResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.damaged

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": len(self.results),
            "files": sum(r.files for r in self.results),
            "bytes": sum(r.bytes for r in self.results),
            "damaged": len(self.damaged),
            "repaired": sum(r.repaired for r in self.results),
            "seconds": round(self.seconds, 3),
            "results": [r.as_dict() for r in self.results],
        }


async def _check_folder(
    record: ModelRecord, backend: StorageBackend, folder: str
) -> tuple[int, list[str], list[str]]:
    """Stream every file through the checker; return bytes read, problems, damaged names."""
    problems: list[str] = []
    damaged: list[str] = []
    total = 0
    for name, file in sorted(record.files.items()):
        key = f"{folder}/{name}"
        try:
            async for chunk in checked_stream(
                backend.read_stream(key), file, backend.location(key)
            ):
                total += len(chunk)
        except ObjectNotFoundError:
            problems.append(f"{backend.location(key)}: missing")
            damaged.append(name)
        except IntegrityError as exc:
            problems.append(str(exc))
            damaged.append(name)
    return total, problems, damaged


async def verify_models(
    loc: Localizer,
    refs: Iterable[ModelRef] | None = None,
    *,
    bucket: bool = False,
    repair: bool = False,
) -> VerifyReport:
    """Check the local store's models (or the bucket's, with ``bucket=True``)."""
    started = time.perf_counter()
    results: list[VerifyResult] = []
    if bucket:
        tier = await loc._require_bucket()
        wanted = (
            [(r.model_id, r.revision) for r in refs]
            if refs is not None
            else [(e.model_id, e.revision) for e in await tier.entries()]
        )
        for model_id, revision in wanted:
            folder = tier.folder(model_id, revision)
            record = await tier.load(model_id, revision)
            if record is None:
                results.append(
                    VerifyResult(
                        model_id,
                        revision,
                        tier.backend.location(folder),
                        0,
                        0,
                        error="not in the bucket",
                    )
                )
                continue
            size, problems, damaged = await _check_folder(record, tier.backend, folder)
            result = VerifyResult(
                model_id,
                revision,
                tier.backend.location(folder),
                len(record.files),
                size,
                tuple(problems),
                tuple(damaged),
            )
            if problems and repair:
                result = await _repair_bucket(loc, result, record)
            results.append(result)
        return VerifyReport(tuple(results), time.perf_counter() - started)

    models = await loc.list_models()
    if refs is not None:
        keep = {(r.model_id, r.revision) for r in refs}
        found = {(m.model_id, m.revision) for m in models}
        for model_id, revision in sorted(keep - found, key=str):
            results.append(VerifyResult(model_id, revision, "", 0, 0, error="not in the store"))
        models = [m for m in models if (m.model_id, m.revision) in keep]
    for model in models:
        public = "/public/" in f"/{model.path}"
        prefix = loc.model_prefix(model.model_id, model.revision, public=public)
        record = await loc.store.load(prefix)
        if record is None:  # removed while we looked
            continue
        size, problems, damaged = await _check_folder(record, loc.backend, prefix)
        result = VerifyResult(
            model.model_id,
            model.revision,
            model.path,
            len(record.files),
            size,
            tuple(problems),
            tuple(damaged),
        )
        if problems and repair:
            result = await _repair_local(loc, result, prefix, record)
        results.append(result)
    return VerifyReport(tuple(results), time.perf_counter() - started)


async def _repair_local(
    loc: Localizer, result: VerifyResult, prefix: str, record: ModelRecord
) -> VerifyResult:
    # Not cached any more from this moment: nobody is served the damaged bytes.
    await loc.store.delete(prefix, list(result.damaged_files))
    try:
        await loc.download(
            result.model_id,
            result.revision,
            metadata_only=not record.is_full_model,
            upload=False,
        )
    except HglocError as exc:
        return attrs.evolve(result, error=f"repair failed: {exc}")
    return attrs.evolve(result, repaired=True)


async def _repair_bucket(loc: Localizer, result: VerifyResult, record: ModelRecord) -> VerifyResult:
    """Put a good copy back into the bucket: the local one if intact, else one from the Hub."""
    try:
        tier = await loc._require_bucket()
        folder = tier.folder(result.model_id, result.revision)
        # The damaged copy stops counting as in the bucket first: nobody copies it from
        # now on, and what is fetched below comes from the Hub, not from it.
        await tier.backend.delete(f"{folder}/{METADATA_FILE}")
        for name in result.damaged_files:
            await tier.backend.delete(f"{folder}/{name}")
        prefix = loc.model_prefix(result.model_id, result.revision)
        local = await loc.cached(result.model_id, result.revision)
        if local is None or (record.is_full_model and not local.is_full_model):
            await loc.download(
                result.model_id,
                result.revision,
                metadata_only=not record.is_full_model,
                upload=False,
            )
        else:
            # The local copy may have rotted as well: it is checked, and fetched again if so.
            local_record = await loc.store.load(prefix)
            if local_record is not None:
                _, problems, damaged = await _check_folder(local_record, loc.backend, prefix)
                if problems:
                    mine = attrs.evolve(result, damaged_files=tuple(damaged))
                    fixed = await _repair_local(loc, mine, prefix, local_record)
                    if fixed.error:
                        return attrs.evolve(result, error=fixed.error)
        await loc.upload(result.model_id, result.revision)
    except HglocError as exc:
        return attrs.evolve(result, error=f"repair failed: {exc}")
    return attrs.evolve(result, repaired=True)
