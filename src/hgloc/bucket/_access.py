"""Opening the team bucket: with AWS credentials its tier, without them its public manifest."""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread

from hgloc.bucket._public_reader import PublicReader
from hgloc.bucket._tier import BucketEntry, BucketTier
from hgloc.config import Config
from hgloc.errors import NoBucketConfiguredError, StorePermissionError

__all__ = ["BucketAccess"]

logger = logging.getLogger("hgloc")


class BucketAccess:
    """The configured bucket, opened on first use (credentials are probed once).

    With credentials :meth:`tier` is the read-write tier; without them the
    bucket is read through :meth:`public` only.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._tier: BucketTier | None = None
        self._public: PublicReader | None = None
        self._opened = False
        self._lock = anyio.Lock()

    @property
    def configured(self) -> bool:
        """Whether the configuration names a bucket."""
        return self.config.s3_bucket_name is not None

    async def tier(self) -> BucketTier | None:
        """The read-write tier, or ``None`` (no bucket, or no AWS credentials)."""
        await self._open()
        return self._tier

    async def public(self) -> PublicReader | None:
        """The public-manifest reader, when a bucket is configured without credentials."""
        await self._open()
        return self._public

    async def require(self) -> BucketTier:
        """The read-write tier, or an error that says what to set."""
        if not self.configured:
            raise NoBucketConfiguredError(
                "no bucket configured: set HGLOC_S3_BUCKET_NAME (s3_bucket_name)"
            )
        tier = await self.tier()
        if tier is None:
            raise StorePermissionError(
                "no AWS credentials found for the bucket: set HGLOC_AWS_ACCESS_KEY_ID and "
                "HGLOC_AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / AWS_ACCESS_KEY_ID)"
            )
        return tier

    async def entries(self) -> list[BucketEntry]:
        """The models the bucket's indexes list (only the public ones without credentials)."""
        if not self.configured:
            raise NoBucketConfiguredError(
                "no bucket configured: set HGLOC_S3_BUCKET_NAME (s3_bucket_name)"
            )
        await self._open()
        if self._tier is not None:
            return await self._tier.entries()
        assert self._public is not None
        return await self._public.entries()

    async def aclose(self) -> None:
        """Close the bucket's clients."""
        with anyio.CancelScope(shield=True):
            if self._tier is not None:
                await self._tier.backend.aclose()
            if self._public is not None:
                await self._public.aclose()
                await self._public.tier.backend.aclose()

    async def _open(self) -> None:
        if not self.configured or self._opened:
            return
        async with self._lock:
            if self._opened:
                return
            from hgloc.backends import S3Backend

            config = self.config
            assert config.s3_bucket_name is not None
            credentials = await anyio.to_thread.run_sync(_has_aws_credentials, config)
            backend = S3Backend(
                config.s3_bucket_name,
                prefix=config.s3_data_prefix,
                endpoint_url=config.s3_endpoint_url,
                access_key_id=config.aws_access_key_id if credentials else None,
                secret_access_key=config.aws_secret_access_key if credentials else None,
                anonymous=not credentials,
            )
            tier = BucketTier(config, backend)
            if credentials:
                self._tier = tier
            else:
                logger.info(
                    "no AWS credentials: reading %s through its public manifest", backend.name
                )
                self._public = PublicReader(tier, timeout=config.request_timeout)
            self._opened = True


def _has_aws_credentials(config: Config) -> bool:
    """Whether requests to the bucket can be signed: HGLOC_* keys or the AWS chain."""
    if config.aws_access_key_id and config.aws_secret_access_key:
        return True
    import botocore.session

    return botocore.session.get_session().get_credentials() is not None
