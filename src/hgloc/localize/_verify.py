"""Re-hashing stored files against their metadata: `hgloc verify`.

Every file of a cached model is read back (streamed) and compared with the
size and hash its metadata recorded when it was fetched. A damaged model can
be repaired: it stops counting as cached (its metadata is removed first) and
is fetched again; for full models only the damaged files are downloaded again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from hgloc.backends import StorageBackend
from hgloc.bucket import BucketAccess, BucketTier, checked_stream
from hgloc.errors import HglocError, IndexCorruptError, IntegrityError, ObjectNotFoundError
from hgloc.layout import CARD_FILE, CONFIG_FILE, METADATA_FILE, ModelRecord
from hgloc.localize._local import LocalStore
from hgloc.localize._request import ModelRef, ModelRequest
from hgloc.localize._results import ModelResult
from hgloc.localize._runner import BulkRunner
from hgloc.store import CachedModel

__all__ = ["Verifier", "VerifyReport", "VerifyResult"]

Download = Callable[[ModelRequest], Awaitable[ModelResult]]
Upload = Callable[[str, str | None], Awaitable[ModelResult]]


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


def _unexpected(model: ModelRef | CachedModel, exc: Exception) -> VerifyResult:
    """A model whose check raised an error hgloc did not expect: bad, and the rest go on."""
    where = model.path if isinstance(model, CachedModel) else ""
    return VerifyResult(
        model.model_id,
        model.revision,
        where,
        0,
        0,
        error=f"could not be checked: unexpected {type(exc).__name__}: {exc}",
    )


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


class Verifier:
    """Checks the local store's models (or the bucket's), repairing them if asked.

    Models are checked one at a time: a store is read at disk speed, and a
    repair downloads through the localizer's own pool.
    """

    def __init__(
        self, local: LocalStore, bucket: BucketAccess, *, download: Download, upload: Upload
    ) -> None:
        self.local = local
        self.bucket = bucket
        self.download = download
        self.upload = upload
        self._runner = BulkRunner[VerifyResult](workers=1)

    async def verify(
        self, refs: Sequence[ModelRef] | None, *, bucket: bool, repair: bool
    ) -> VerifyReport:
        started = time.perf_counter()
        if bucket:
            results = await self._verify_bucket(refs, repair=repair)
        else:
            results = await self._verify_local(refs, repair=repair)
        return VerifyReport(tuple(results), time.perf_counter() - started)

    async def _verify_bucket(
        self, refs: Sequence[ModelRef] | None, *, repair: bool
    ) -> list[VerifyResult]:
        tier = await self.bucket.require()
        if refs is None:
            refs = [ModelRef(e.model_id, e.revision) for e in await tier.entries()]

        async def check(ref: ModelRef) -> VerifyResult:
            folder = tier.folder(ref.model_id, ref.revision)
            where = tier.backend.location(folder)
            try:
                record = await tier.load(ref.model_id, ref.revision)
            except IndexCorruptError as exc:  # names files outside its folder, another model...
                result = VerifyResult(
                    ref.model_id, ref.revision, where, 0, 0,
                    (f"metadata damaged: {exc}",), (METADATA_FILE,),
                )  # fmt: skip
                return await self._repair_bucket(tier, result, None) if repair else result
            if record is None:
                return VerifyResult(
                    ref.model_id, ref.revision, where, 0, 0, error="not in the bucket"
                )
            size, problems, damaged = await _check_folder(record, tier.backend, folder)
            result = VerifyResult(
                ref.model_id,
                ref.revision,
                where,
                len(record.files),
                size,
                tuple(problems),
                tuple(damaged),
            )
            if problems and repair:
                result = await self._repair_bucket(tier, result, record)
            return result

        return await self._runner.run(refs, check, on_error=_unexpected)

    async def _verify_local(
        self, refs: Sequence[ModelRef] | None, *, repair: bool
    ) -> list[VerifyResult]:
        results: list[VerifyResult] = []
        models = await self.local.list()
        if refs is not None:
            keep = {(r.model_id, r.revision) for r in refs}
            found = {(m.model_id, m.revision) for m in models}
            for model_id, revision in sorted(keep - found, key=str):
                results.append(VerifyResult(model_id, revision, "", 0, 0, error="not in the store"))
            models = [m for m in models if (m.model_id, m.revision) in keep]

        async def check(model: CachedModel) -> VerifyResult | None:
            public = "/public/" in f"/{model.path}"
            # The listing knows the folder (it may be outside this bucket setting's own).
            prefix = model.prefix or self.local.prefix(
                model.model_id, model.revision, public=public
            )
            record = await self.local.models.load(prefix)
            if record is None:  # removed while we looked
                return None
            size, problems, damaged = await _check_folder(record, self.local.backend, prefix)
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
                result = await self._repair_local(result, prefix, record)
            return result

        checked = await BulkRunner[VerifyResult | None](workers=1).run(
            models, check, on_error=_unexpected
        )
        damaged = await self._damaged_local(refs, repair=repair)
        named = {(r.model_id, r.revision) for r in damaged}
        results = [r for r in results if (r.model_id, r.revision) not in named]
        return results + [r for r in checked if r is not None] + damaged

    async def _damaged_local(
        self, refs: Sequence[ModelRef] | None, *, repair: bool
    ) -> list[VerifyResult]:
        """Folders whose metadata is damaged: listings skip them, verify reports them."""
        out: list[VerifyResult] = []
        named = {self.local.prefix(r.model_id, r.revision): r for r in refs or ()}
        for folder in await self.local.damaged():
            ref = named.get(folder.prefix)
            if ref is None and folder.model_id is not None:
                try:
                    mine = self.local.prefix(folder.model_id, folder.revision)
                except HglocError:
                    mine = None  # the id it names is not a valid one: not trusted
                if mine == folder.prefix:
                    ref = ModelRef(folder.model_id, folder.revision)
            if refs is not None and (ref is None or folder.prefix not in named):
                continue
            result = VerifyResult(
                ref.model_id if ref else folder.prefix,
                ref.revision if ref else None,
                self.local.location(folder.prefix),
                0,
                0,
                (f"metadata damaged: {folder.problem}",),
                (METADATA_FILE,),
            )
            if repair:
                result = await self._rebuild_local(result, folder.prefix, ref)
            out.append(result)
        return out

    async def _rebuild_local(
        self, result: VerifyResult, prefix: str, ref: ModelRef | None
    ) -> VerifyResult:
        """A folder with damaged metadata, fetched again (its good files are kept)."""
        if ref is None:
            return attrs.evolve(
                result,
                error="repair failed: its metadata no longer says which model it holds; "
                "run `hgloc verify --repair <model id>` naming it",
            )
        backend = self.local.backend
        names = [k.removeprefix(f"{prefix}/") async for k in backend.list_keys(prefix)]
        full = any(n not in (CARD_FILE, CONFIG_FILE, METADATA_FILE) for n in names)
        await backend.delete(f"{prefix}/{METADATA_FILE}")
        request = ModelRequest(
            model_id=ref.model_id, revision=ref.revision, metadata_only=not full, upload=False
        )
        try:
            await self.download(request)
        except HglocError as exc:
            return attrs.evolve(result, error=f"repair failed: {exc}")
        return attrs.evolve(result, repaired=True)

    async def _repair_local(
        self, result: VerifyResult, prefix: str, record: ModelRecord
    ) -> VerifyResult:
        # Not cached any more from this moment: nobody is served the damaged bytes.
        await self.local.models.delete(prefix, list(result.damaged_files))
        try:
            await self._refetch(result, full=record.is_full_model)
        except HglocError as exc:
            return attrs.evolve(result, error=f"repair failed: {exc}")
        return attrs.evolve(result, repaired=True)

    async def _refetch(self, result: VerifyResult, *, full: bool) -> None:
        request = ModelRequest(
            model_id=result.model_id,
            revision=result.revision,
            metadata_only=not full,
            upload=False,
        )
        await self.download(request)

    async def _repair_bucket(
        self, tier: BucketTier, result: VerifyResult, record: ModelRecord | None
    ) -> VerifyResult:
        """Put a good copy back into the bucket: the local one if intact, else one from the Hub."""
        try:
            folder = tier.folder(result.model_id, result.revision)
            # The damaged copy stops counting as in the bucket first: nobody copies it from
            # now on, and what is fetched below comes from the Hub, not from it.
            await tier.backend.delete(f"{folder}/{METADATA_FILE}")
            for name in result.damaged_files:
                if name != METADATA_FILE:  # its own metadata: named files stay unread
                    await tier.backend.delete(f"{folder}/{name}")
            prefix = self.local.prefix(result.model_id, result.revision)
            local = await self.local.cached(result.model_id, result.revision)
            full = record.is_full_model if record is not None else False
            if local is None or (full and not local.is_full_model):
                await self._refetch(result, full=full)
            else:
                # The local copy may have rotted as well: it is checked, and fetched again if so.
                local_record = await self.local.models.load(prefix)
                if local_record is not None:
                    _, problems, damaged = await _check_folder(
                        local_record, self.local.backend, prefix
                    )
                    if problems:
                        mine = attrs.evolve(result, damaged_files=tuple(damaged))
                        fixed = await self._repair_local(mine, prefix, local_record)
                        if fixed.error:
                            return attrs.evolve(result, error=fixed.error)
            await self.upload(result.model_id, result.revision)
        except HglocError as exc:
            return attrs.evolve(result, error=f"repair failed: {exc}")
        return attrs.evolve(result, repaired=True)
