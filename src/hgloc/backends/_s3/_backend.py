"""A store in an S3 bucket (AWS or any S3-compatible endpoint): the protocol methods.

The client (``_client.py``) and multipart uploads (``_multipart.py``) live
beside this module; here each protocol method becomes S3 requests.
Size: ``S3Backend`` is over 300 lines, one short method per member of seven protocols.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import anyio
from anyio.abc import AsyncResource

from hgloc.backends._capabilities import ObjectHead, PutResult
from hgloc.backends._json_updates import KeyLocks, parse_json_object, update_json
from hgloc.backends._keys import validate_key, validate_prefix
from hgloc.backends._protocol import ObjectInfo
from hgloc.backends._s3._client import (
    Body,
    S3Client,
    botocore_exceptions,
    error_code,
    put_options,
    require_aiobotocore,
    utc,
)
from hgloc.backends._s3._multipart import upload_stream
from hgloc.errors import ObjectNotFoundError

__all__ = ["S3Backend"]


class S3Backend(AsyncResource):
    """Objects in ``bucket`` under ``prefix``; keys are relative to the prefix.

    One aiobotocore client per instance, made on first use and released by
    :meth:`aclose` (or ``async with``). At most ``max_concurrency`` requests are in
    flight at once. Credentials: the explicit keys if given, else the standard AWS
    chain; ``anonymous=True`` sends unsigned requests (reads of public objects).
    With ``endpoint_url`` (MinIO, Ceph, moto, ...) addressing is path style.

    Runs on asyncio (aiohttp transport) and on trio (httpx2 transport, chosen
    automatically when no asyncio loop is running). A client belongs to the event
    loop that made it: use one instance per loop.

    Besides :class:`~hgloc.backends.StorageBackend` it has every capability the
    bucket tier needs (:class:`~hgloc.backends.BucketStore`): conditional JSON
    updates, writes with metadata and ACL, and public URLs.

    >>> async with S3Backend("models", prefix="team") as store:  # doctest: +SKIP
    ...     await store.write("models/gpt2/default_revision/config.json", b"{}")
    ...     store.location("models/gpt2/default_revision/config.json")
    's3://models/team/models/gpt2/default_revision/config.json'
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        max_concurrency: int = 32,
        anonymous: bool = False,
    ) -> None:
        require_aiobotocore()
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if anonymous and access_key_id is not None:
            raise ValueError("anonymous=True sends unsigned requests: give no keys with it")
        self.bucket = bucket
        self.prefix = validate_prefix(prefix.strip("/"))
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self.region = region
        self.max_concurrency = max_concurrency
        self.anonymous = anonymous
        self._client = S3Client(
            bucket,
            name=self.name,
            endpoint_url=self.endpoint_url,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=region,
            max_concurrency=max_concurrency,
            anonymous=anonymous,
        )
        self._json_locks = KeyLocks()

    # -- naming ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def __repr__(self) -> str:
        extra = f", prefix={self.prefix!r}" if self.prefix else ""
        if self.endpoint_url:
            extra += f", endpoint_url={self.endpoint_url!r}"
        return f"S3Backend({self.bucket!r}{extra})"

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def public_url(self, key: str) -> str:
        """The URL anyone can GET ``key`` at, if the object is ``public-read``.

        Path style for a custom endpoint, virtual-hosted style for AWS:

        >>> S3Backend("b", endpoint_url="http://127.0.0.1:9000").public_url("x y.json")
        'http://127.0.0.1:9000/b/x%20y.json'
        >>> S3Backend("b", prefix="p", region="eu-west-1").public_url("m/config.json")
        'https://b.s3.eu-west-1.amazonaws.com/p/m/config.json'
        """
        path = quote(self._full(key), safe="/")
        if self.endpoint_url:
            return f"{self.endpoint_url}/{quote(self.bucket)}/{path}"
        host = f"s3.{self.region}.amazonaws.com" if self.region else "s3.amazonaws.com"
        return f"https://{self.bucket}.{host}/{path}"

    # -- the StorageBackend protocol ------------------------------------------

    async def read(self, key: str) -> bytes:
        return (await self._client.get(key, self._full(key)))[0]

    async def read_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = [validate_key(key) for key in keys]
        out: dict[str, bytes] = {}

        async def one(key: str) -> None:
            with contextlib.suppress(ObjectNotFoundError):
                out[key] = await self.read(key)

        # Requests are bounded by the backend's own semaphore.
        async with anyio.create_task_group() as tg:
            for key in wanted:
                tg.start_soon(one, key)
        return out

    async def read_stream(
        self,
        key: str,
        *,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = 1 << 20,
    ) -> AsyncIterator[bytes]:
        options: dict[str, Any] = {"Key": self._full(key)}
        if end is not None and end <= start:
            return  # an empty range: S3 would answer 416
        if start or end is not None:
            options["Range"] = f"bytes={start}-" + ("" if end is None else str(end - 1))
        try:
            response = await self._request("get_object", key, **options)
        except botocore_exceptions().ClientError as exc:
            if error_code(exc) in ("InvalidRange", "416"):
                return  # the range starts past the end: nothing to read
            raise
        body = response["Body"]
        try:
            while True:
                with self._client.errors(key):
                    chunk: bytes = await body.read(chunk_size)
                if not chunk:
                    break
                yield chunk
        finally:
            # Closing returns (or drops) the connection even when the consumer
            # stops early or is cancelled.
            with anyio.CancelScope(shield=True):
                await body.aclose()

    async def write(self, key: str, data: bytes) -> None:
        await self.put(key, data)

    async def write_many(self, items: Mapping[str, bytes]) -> None:
        for key in items:
            validate_key(key)  # all of them before the first request
        # One after another: the protocol promises visibility in the given order
        # (a folder's marker written last), which concurrent PUTs would not keep.
        for key, data in items.items():
            await self.put(key, data)

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        return (await self.put_stream(key, chunks)).size

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFoundError:
            return False
        return True

    async def stat(self, key: str) -> ObjectInfo:
        head = await self.head(key)
        return ObjectInfo(key, head.size, head.modified)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        prefix = validate_prefix(prefix)
        folder = "/".join(p for p in (self.prefix, prefix) if p)
        s3_prefix = f"{folder}/" if folder else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        kwargs: dict[str, Any] = {"Prefix": s3_prefix}
        while True:
            # One request per page, each under the limiter; nothing is held
            # while the caller works between yields.
            page = await self._request("list_objects_v2", prefix, **kwargs)
            for entry in page.get("Contents", ()):
                key = entry["Key"][strip:]
                # Folder markers ("a/") and other keys hgloc could not address
                # (written by other tools) are not objects of this store.
                if _is_valid_key(key):
                    yield ObjectInfo(key, entry["Size"], utc(entry.get("LastModified")))
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        async for info in self.list(prefix):
            yield info.key

    async def delete(self, key: str) -> None:
        await self._request("delete_object", key, Key=self._full(key))

    async def aclose(self) -> None:
        # Locks belong to the event loop that used them; a later use may be another.
        self._json_locks.clear()
        await self._client.aclose()

    # -- AttributedWrites -------------------------------------------------------

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        public: bool = False,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Store ``data`` with one PutObject and return its ETag (quoted, as S3 sends it).

        ``public=True`` sets the ``public-read`` ACL; ``metadata`` becomes
        ``x-amz-meta-*`` headers, read back by :meth:`head`.
        """
        response = await self._request(
            "put_object",
            key,
            Key=self._full(key),
            Body=Body(data),
            **put_options(public, content_type, metadata),
        )
        etag: str = response["ETag"]
        return etag

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        public: bool = False,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> PutResult:
        """Store a stream atomically, as :meth:`write_stream` does, with ``put``'s options.

        Below :data:`PART_SIZE` (8 MiB) it is one PutObject; above, a multipart
        upload (``_multipart.py``), aborted if the iterable raises or the task is
        cancelled, so nothing becomes visible.
        """

        async def put_whole(data: bytes) -> str:
            return await self.put(
                key, data, public=public, content_type=content_type, metadata=metadata
            )

        size, etag = await upload_stream(
            self._request,
            key,
            self._full(key),
            chunks,
            put_options(public, content_type, metadata),
            put_whole,
        )
        return PutResult(key, size, etag)

    async def head(self, key: str) -> ObjectHead:
        """Size, ETag, user metadata and modification time of one object (HeadObject).

        The bulk sync compares ``size`` and ``metadata.get("sha256")`` to skip
        objects already in place.
        """
        response = await self._request("head_object", key, Key=self._full(key))
        return ObjectHead(
            key,
            int(response["ContentLength"]),
            response["ETag"],
            dict(response.get("Metadata") or {}),
            utc(response.get("LastModified")),
        )

    # -- ConditionalJson ----------------------------------------------------------

    async def read_json_with_etag(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """A JSON object and the ETag of the version read; ``(None, None)`` if missing.

        See :class:`~hgloc.backends.ConditionalJson`.
        """
        try:
            data, etag = await self._client.get(key, self._full(key))
        except ObjectNotFoundError:
            return None, None
        return parse_json_object(self.location(key), data), etag

    async def update_json(
        self,
        key: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        public: bool = False,
        attempts: int = 20,
    ) -> dict[str, Any]:
        """Apply ``mutate`` to a JSON object in the bucket without losing concurrent updates.

        Writes carry ``If-Match`` (``If-None-Match: *`` to create); see
        :class:`~hgloc.backends.ConditionalJson` for the rules.

        >>> await store.update_json("public_models.json", add, public=True)  # doctest: +SKIP
        """
        full = self._full(key)

        async def read() -> tuple[dict[str, Any] | None, str | None]:
            return await self.read_json_with_etag(key)

        async def write_if(body: bytes, etag: str | None) -> bool:
            options = put_options(public, "application/json", None)
            return await self._client.put_if(key, full, body, etag, **options)

        return await update_json(
            self.location(key), self._json_locks(full), read, write_if, mutate, attempts
        )

    # -- ConditionalPut -----------------------------------------------------------

    async def put_if_absent(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> str | None:
        """PutObject with ``If-None-Match: *``: the ETag, or ``None`` if ``key`` exists."""
        options = put_options(False, content_type, None)
        return await self._client.put_conditional(key, self._full(key), data, None, **options)

    async def put_if_match(
        self, key: str, data: bytes, etag: str, *, content_type: str | None = None
    ) -> str | None:
        """PutObject with ``If-Match: etag``: the new ETag, or ``None`` if ``key`` changed."""
        options = put_options(False, content_type, None)
        return await self._client.put_conditional(key, self._full(key), data, etag, **options)

    # -- PresignedUrls -------------------------------------------------------------

    async def presigned_url(self, key: str, *, seconds: int = 3600) -> str:
        """A URL that GETs ``key`` without credentials for ``seconds`` (a signed query)."""
        return await self._client.presign(key, self._full(key), seconds)

    # -- internals --------------------------------------------------------------

    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _request(
        self,
        operation: str,
        key: str,
        *,
        _passthrough: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call one S3 operation on this bucket, bounded and with errors translated.

        Every request but whole-object reads goes through here.
        """
        return await self._client.request(operation, key, passthrough=_passthrough, **kwargs)


def _is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except ValueError:
        return False
    return True
