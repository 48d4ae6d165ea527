"""Sharing through the team bucket: which models go up after a fetch, and the upload itself."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Container

import attrs

from hgloc.bucket import BucketAccess, checked_stream
from hgloc.errors import HglocError, ObjectNotFoundError
from hgloc.layout import validate_model_id, validate_revision
from hgloc.localize._local import LocalStore
from hgloc.localize._request import ModelRequest
from hgloc.localize._results import ModelResult, Source, Status

__all__ = ["Sharing"]


class Sharing:
    """Uploads cached models to the bucket, and decides which fetched models to upload."""

    def __init__(self, local: LocalStore, bucket: BucketAccess) -> None:
        self.local = local
        self.bucket = bucket

    async def wanted(
        self,
        result: ModelResult,
        request: ModelRequest,
        in_bucket: Container[tuple[str, str | None]] | None = None,
    ) -> bool:
        """Whether a model goes to the bucket after it was fetched.

        Yes when asked to publish it, and (``upload``, with credentials) when it
        came fresh from the Hub. With ``in_bucket`` (a bulk run read the index)
        also when this store holds it and the index does not: a run killed or cut
        from S3 between the two is completed by the next one.
        """
        if not self.local.bucket_folder or not result.ok or result.upload_pending:
            return False
        if request.make_public:
            return True
        # Without credentials a fetched model stays local (make_public says why it cannot).
        if not request.upload or await self.bucket.tier() is None:
            return False
        if result.source is Source.HUB and result.status is Status.FETCHED:
            return True
        own = self.local.location(self.local.prefix(result.model_id, result.revision))
        return (
            in_bucket is not None
            and result.source is Source.STORE
            and result.path == own
            and (result.model_id, result.revision) not in in_bucket
        )

    async def share(self, result: ModelResult, request: ModelRequest) -> ModelResult:
        """Upload a freshly cached model; a failed upload fails the result, saying why."""
        try:
            shared = await self.upload(
                result.model_id,
                result.revision,
                make_public=request.make_public,
                check_existing=result.source is not Source.HUB,
            )
        except HglocError as exc:
            return result.failed(
                f"cached at {result.path}, but sharing it through the bucket failed: "
                f"{exc}; run sync-local-model-to-s3 to retry",
                type(exc).__name__,
            )
        return attrs.evolve(result, shared=shared.path)

    async def upload(
        self,
        model_id: str,
        revision: str | None = None,
        *,
        make_public: bool = False,
        check_existing: bool = True,
    ) -> ModelResult:
        """Put a cached model in the bucket (``uploaded``, or ``skipped`` if already there).

        ``check_existing=False`` puts every object without first asking whether
        an identical one is there (cheaper for a model the bucket cannot have yet).
        """
        started = time.perf_counter()
        validate_model_id(model_id)
        validate_revision(revision)
        tier = await self.bucket.require()
        found = await self.local.find(model_id, revision)
        if found is None:
            where = self.local.location(self.local.prefix(model_id, revision))
            raise ObjectNotFoundError(
                f"{model_id!r} is not in the local store {where}; download it first"
            )
        # It may be held under another name (an alias, or the branch at a commit asked
        # for) or in a folder of no bucket.
        prefix, record = found.prefix, found.record
        model_id = record.model_id
        backend = self.local.backend

        def read_local(name: str) -> AsyncIterator[bytes]:
            # Hashed on the way up: a local copy that rotted fails the upload (nothing lands)
            # instead of reaching the bucket under the hash of the good bytes.
            key = f"{prefix}/{name}"
            return checked_stream(
                backend.read_stream(key), record.files[name], backend.location(key)
            )

        wrote = await tier.upload(
            record, read_local=read_local, make_public=make_public, check_existing=check_existing
        )
        return ModelResult(
            model_id,
            revision,
            Status.UPLOADED if wrote else Status.SKIPPED,
            # Under the name it is held as (a commit may be held as the branch at it).
            tier.backend.location(tier.folder(model_id, record.revision)),
            record.commit,
            seconds=time.perf_counter() - started,
            source=Source.STORE,
        )
