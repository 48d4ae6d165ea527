"""A store in an S3 bucket (AWS or any S3-compatible endpoint), on aiobotocore.

aiobotocore is imported only when an :class:`S3Backend` is built, so hgloc works
without the ``s3`` extra until someone asks for S3.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import random
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import quote

import anyio
import attrs
from anyio.abc import AsyncResource

from hgloc.backends._keys import validate_key, validate_prefix
from hgloc.backends._protocol import ObjectInfo
from hgloc.errors import (
    BackendUnavailableError,
    IndexCorruptError,
    MissingExtraError,
    ObjectNotFoundError,
    StorePermissionError,
)

__all__ = ["S3Backend", "S3ObjectHead", "S3PutResult"]

PART_SIZE = 8 * 1024 * 1024
"""Multipart part size; a stream shorter than this is sent with one PutObject."""

_MISSING_EXTRA = "S3 needs the 's3' extra: pip install 'hgloc[s3]'"
_TRIO_NEEDS = (
    "S3 on trio needs aiobotocore>=3.9 and httpx2 (aiobotocore's aiohttp transport "
    "is asyncio-only): pip install 'aiobotocore[httpx2]>=3.9'"
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccountProblem",
    }
)
_BUSY_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})
# S3 answers 412 when If-Match/If-None-Match fails and 409 when another
# conditional write to the same key is in progress: both mean "re-read, retry".
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_CONNECT_TIMEOUT = 5.0  # seconds: a dead endpoint must fail fast, not after botocore's 60 s
_READ_TIMEOUT = 60.0
_MAX_ATTEMPTS = 3  # botocore's own default; keeps an unreachable endpoint under ~5 s
_ABORT_TIMEOUT = 30.0

_Parts = list[dict[str, Any]]  # CompleteMultipartUpload's {"PartNumber", "ETag"} list


@attrs.frozen
class S3ObjectHead:
    """What ``HeadObject`` says about one object (``key`` is relative to the store prefix).

    ``metadata`` holds the user metadata (``x-amz-meta-*`` without that prefix),
    e.g. ``{"sha256": "..."}`` when the object was written with ``put(..., metadata=...)``.
    """

    key: str
    size: int
    etag: str
    metadata: dict[str, str] = attrs.field(factory=dict, hash=False)
    modified: dt.datetime | None = None


@attrs.frozen
class S3PutResult:
    """The outcome of :meth:`S3Backend.put_stream`: bytes stored and the object's ETag.

    A multipart upload's ETag has the form ``"<hex>-<number of parts>"``.
    """

    key: str
    size: int
    etag: str


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
        _require_aiobotocore()
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
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._opening: anyio.Lock | None = None
        self._limit: anyio.Semaphore | None = None
        self._json_locks: dict[str, anyio.Lock] = {}

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
        return (await self._get(key))[0]

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
            validate_key(key)
            return  # an empty range: S3 would answer 416
        if start or end is not None:
            options["Range"] = f"bytes={start}-" + ("" if end is None else str(end - 1))
        try:
            response = await self._request("get_object", key, **options)
        except _botocore_exceptions().ClientError as exc:
            if _error_code(exc) in ("InvalidRange", "416"):
                return  # the range starts past the end: nothing to read
            raise
        body = response["Body"]
        try:
            while True:
                with self._errors(key):
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
                    yield ObjectInfo(key, entry["Size"], _utc(entry.get("LastModified")))
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        async for info in self.list(prefix):
            yield info.key

    async def delete(self, key: str) -> None:
        await self._request("delete_object", key, Key=self._full(key))

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        # Locks belong to the event loop that used them; a later use may be another.
        self._opening, self._json_locks = None, {}
        if stack is not None:
            await stack.aclose()

    # -- S3-only operations ---------------------------------------------------

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

        >>> await store.put("public_models.json", b"{}", public=True,  # doctest: +SKIP
        ...                 content_type="application/json", metadata={"sha256": digest})
        '"99914b932bd37a50b983c5e7c90ae93b"'
        """
        full = self._full(key)
        response = await self._request(
            "put_object",
            key,
            Key=full,
            Body=_Body(data),
            **_put_options(public, content_type, metadata),
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
    ) -> S3PutResult:
        """Store a stream atomically, as :meth:`write_stream` does, with ``put``'s options.

        Below :data:`PART_SIZE` (8 MiB) it is one PutObject; above, a multipart
        upload of 8 MiB parts, one part uploading while the next fills (so about
        two parts are in memory). If the iterable raises or the task is
        cancelled, the upload is aborted and nothing becomes visible.

        >>> result = await store.put_stream(  # doctest: +SKIP
        ...     key, hub_chunks, metadata={"sha256": digest}
        ... )
        >>> result.size, result.etag  # doctest: +SKIP
        (548118077, '"8e1e...-66"')
        """
        full = self._full(key)
        options = _put_options(public, content_type, metadata)
        iterator = aiter(chunks)
        buffer = bytearray()
        while len(buffer) < PART_SIZE:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                etag = await self.put(
                    key, bytes(buffer), public=public, content_type=content_type, metadata=metadata
                )
                return S3PutResult(key, len(buffer), etag)
            buffer += chunk
        created = await self._request("create_multipart_upload", key, Key=full, **options)
        upload_id: str = created["UploadId"]
        try:
            size, parts = await self._upload_parts(key, full, upload_id, iterator, buffer)
            completed = await self._request(
                "complete_multipart_upload",
                key,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Shielded: a cancelled task must still abort, or the parts linger
            # (billed, invisible) until a lifecycle rule removes them.
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(_ABORT_TIMEOUT),
                contextlib.suppress(Exception),
            ):
                await self._request("abort_multipart_upload", key, Key=full, UploadId=upload_id)
            raise
        return S3PutResult(key, size, completed["ETag"])

    async def head(self, key: str) -> S3ObjectHead:
        """Size, ETag, user metadata and modification time of one object.

        The bulk sync compares ``size`` and ``metadata.get("sha256")`` to skip
        objects already in place.

        >>> head = await store.head("models/gpt2/main/model.safetensors")  # doctest: +SKIP
        >>> head.metadata.get("sha256")  # doctest: +SKIP
        '248dfc39...'
        """
        response = await self._request("head_object", key, Key=self._full(key))
        return S3ObjectHead(
            key,
            int(response["ContentLength"]),
            response["ETag"],
            dict(response.get("Metadata") or {}),
            _utc(response.get("LastModified")),
        )

    async def read_json_with_etag(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """Read a JSON object and the ETag of the version read; ``(None, None)`` if missing.

        Raises :class:`~hgloc.errors.IndexCorruptError` when the object is not a
        JSON object.

        >>> index, etag = await store.read_json_with_etag(  # doctest: +SKIP
        ...     "private_models_index.json"
        ... )
        """
        try:
            data, etag = await self._get(key)
        except ObjectNotFoundError:
            return None, None
        return self._parse_json(key, data), etag

    async def update_json(
        self,
        key: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        public: bool = False,
        attempts: int = 20,
    ) -> dict[str, Any]:
        """Apply ``mutate`` to a JSON object in the bucket without losing concurrent updates.

        Reads the object and its ETag, calls ``mutate`` on the parsed dict (``{}``
        if missing), and writes the result only if the object is unchanged
        (``If-Match``, or ``If-None-Match: *`` when creating it). On a conflict it
        waits a little (jittered) and starts over, up to ``attempts`` times, so
        ``mutate`` may run more than once. A file that does not parse is never
        overwritten. Returns the dict written.

        >>> def add(index):  # doctest: +SKIP
        ...     index["gpt2---default_revision"] = entry
        ...     return index
        >>> await store.update_json("public_models.json", add, public=True)  # doctest: +SKIP
        """
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        full = self._full(key)
        # Updates from this instance queue here rather than race each other at
        # S3: conditional writes then only arbitrate between processes/hosts,
        # and 30 local writers cost 30 round trips instead of a retry storm.
        lock = self._json_locks.get(full)
        if lock is None:
            lock = self._json_locks[full] = anyio.Lock()
        async with lock:
            for attempt in range(attempts):
                written = await self._try_update_json(key, full, mutate, public)
                if written is not None:
                    return written
                await anyio.sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))
        raise BackendUnavailableError(
            f"could not update {self.location(key)}: it changed under us {attempts} times "
            "in a row (too many concurrent writers); try again"
        )

    async def _try_update_json(
        self,
        key: str,
        full: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        public: bool,
    ) -> dict[str, Any] | None:
        """One read-mutate-conditional-write; None if another writer got there first."""
        current, etag = await self.read_json_with_etag(key)
        updated = mutate(current if current is not None else {})
        if not isinstance(updated, dict):
            raise TypeError(f"mutate must return a dict, got {type(updated).__name__}")
        body = json.dumps(updated, indent=2, ensure_ascii=False).encode()
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            await self._request(
                "put_object",
                key,
                _passthrough=_CONFLICT_CODES,
                Key=full,
                Body=_Body(body),
                **_put_options(public, "application/json", None),
                **condition,
            )
        except _botocore_exceptions().ClientError as exc:
            if _error_code(exc) not in _CONFLICT_CODES:
                raise  # pragma: no cover - _request translates everything else
            return None
        except ObjectNotFoundError:
            return None  # deleted between our read and our If-Match write
        return updated

    # -- internals --------------------------------------------------------------

    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _get(self, key: str) -> tuple[bytes, str]:
        """The whole object and its ETag, read under one permit."""
        full = self._full(key)
        client = await self._ensure_client()
        async with self._limited():
            with self._errors(key):
                response = await client.get_object(Bucket=self.bucket, Key=full)
                async with response["Body"] as body:
                    data: bytes = await body.read()
        return data, str(response["ETag"])

    def _parse_json(self, key: str, data: bytes) -> dict[str, Any]:
        try:
            value = json.loads(data.decode("utf-8"))
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; RecursionError: '[[[[...'
        except (ValueError, RecursionError) as exc:
            raise IndexCorruptError(
                f"{self.location(key)} is not valid JSON ({exc}); repair or delete it, "
                "hgloc will not overwrite it"
            ) from exc
        if not isinstance(value, dict):
            raise IndexCorruptError(
                f"{self.location(key)} holds a JSON {type(value).__name__}, not an object; "
                "repair or delete it, hgloc will not overwrite it"
            )
        return value

    async def _upload_parts(
        self,
        key: str,
        full: str,
        upload_id: str,
        iterator: AsyncIterator[bytes],
        buffer: bytearray,
    ) -> tuple[int, _Parts]:
        """Upload ``buffer`` and the rest of ``iterator`` as parts; return (size, parts)."""
        parts: _Parts = []
        size = len(buffer)
        failure: Exception | None = None
        send, receive = anyio.create_memory_object_stream[tuple[int, bytes]](0)

        async def uploader() -> None:
            async with receive:
                async for number, data in receive:
                    response = await self._request(
                        "upload_part",
                        key,
                        Key=full,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=_Body(data),
                    )
                    parts.append({"PartNumber": number, "ETag": response["ETag"]})

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(uploader)
                async with send:
                    number = 1
                    try:
                        while True:
                            # A zero-size buffer: send() waits until the uploader
                            # has finished the previous part.
                            while len(buffer) >= PART_SIZE:
                                await send.send((number, bytes(buffer[:PART_SIZE])))
                                del buffer[:PART_SIZE]
                                number += 1
                            try:
                                chunk = await anext(iterator)
                            except StopAsyncIteration:
                                break
                            buffer += chunk
                            size += len(chunk)
                        if buffer:
                            await send.send((number, bytes(buffer)))
                    except Exception as exc:
                        # The caller's stream failed: re-raise it as itself
                        # below, not wrapped in the task group's ExceptionGroup.
                        failure = exc
                        group.cancel_scope.cancel()
        except BaseExceptionGroup as group_error:
            raise _single(group_error) from None
        if failure is not None:
            raise failure
        parts.sort(key=lambda part: int(part["PartNumber"]))
        return size, parts

    async def _ensure_client(self) -> Any:
        if self._client is not None:
            return self._client
        if self._opening is None:
            self._opening = anyio.Lock()
        async with self._opening:
            if self._client is None:
                stack = AsyncExitStack()
                try:
                    client = await stack.enter_async_context(self._create_client())
                except BaseException:
                    await stack.aclose()
                    raise
                self._limit = anyio.Semaphore(self.max_concurrency)
                self._stack, self._client = stack, client
        return self._client

    def _create_client(self) -> Any:
        import botocore
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        _redact_credentials_in_logs(self._access_key_id, self._secret_access_key)

        options: dict[str, Any] = {}
        if _running_on_trio():
            try:
                from aiobotocore._async_primitives import AsyncPrimitives  # noqa: F401
                from aiobotocore.httpxsession import HttpxSession
            except ImportError as exc:
                raise MissingExtraError(_TRIO_NEEDS) from exc
            options["http_session_cls"] = HttpxSession
        if self.anonymous:
            options["signature_version"] = botocore.UNSIGNED
        if self.endpoint_url:
            # Custom endpoints (MinIO, moto, 127.0.0.1:9000) rarely resolve
            # bucket subdomains.
            options["s3"] = {"addressing_style": "path"}
        config = AioConfig(
            retries={"mode": "standard", "total_max_attempts": _MAX_ATTEMPTS},
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=_READ_TIMEOUT,
            # Room for max_concurrency requests plus as many bodies being
            # streamed (a read_stream holds a connection but not a permit).
            max_pool_connections=2 * self.max_concurrency,
            # The newer default checksums (CRC32 on every upload) break several
            # S3-compatible stores; bodies here are bytes, hashed by hgloc anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            **options,
        )
        region = self.region or ("us-east-1" if self.endpoint_url else None)
        session = get_session()
        session.register_component("data_loader", _shared_loader(session))
        return session.create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=config,
        )

    @contextlib.asynccontextmanager
    async def _limited(self) -> AsyncIterator[None]:
        if self._limit is None:  # pragma: no cover - set together with the client
            raise RuntimeError("S3 client not open")
        async with self._limit:
            yield

    async def _request(
        self,
        operation: str,
        key: str,
        *,
        _passthrough: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call one S3 operation on this bucket, bounded and with errors translated."""
        client = await self._ensure_client()
        async with self._limited():
            with self._errors(key, passthrough=_passthrough):
                response: dict[str, Any] = await getattr(client, operation)(
                    Bucket=self.bucket, **kwargs
                )
        return response

    @contextlib.contextmanager
    def _errors(self, key: str, *, passthrough: frozenset[str] = frozenset()) -> Iterator[None]:
        """Translate botocore's errors into hgloc's, naming the key and the store."""
        errors = _botocore_exceptions()
        try:
            yield
        except errors.ClientError as exc:
            code = _error_code(exc)
            if code in passthrough:
                raise
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFoundError(f"no object {key!r} in {self.name}") from exc
            if code == "NoSuchBucket":
                raise BackendUnavailableError(
                    f"bucket {self.bucket!r} does not exist at {self._where()}"
                ) from exc
            if status == 403 or code in _DENIED_CODES:
                who = "anonymous requests are" if self.anonymous else "access is"
                raise StorePermissionError(
                    f"{who} denied for {_what(key)} in {self.name} ({code})"
                ) from exc
            if status >= 500 or code in _BUSY_CODES:
                raise BackendUnavailableError(
                    f"{self._where()} failed for {_what(key)} in {self.name} after "
                    f"{_MAX_ATTEMPTS} attempts ({code})"
                ) from exc
            raise
        except (
            errors.NoCredentialsError,
            errors.PartialCredentialsError,
            errors.CredentialRetrievalError,
        ) as exc:
            raise StorePermissionError(
                f"no AWS credentials for {self.name}: set HGLOC_AWS_ACCESS_KEY_ID and "
                "HGLOC_AWS_SECRET_ACCESS_KEY (or the AWS chain), or read public objects "
                "with anonymous=True"
            ) from exc
        except (errors.HTTPClientError, errors.ConnectionError) as exc:
            # Connection refused or reset, timeouts, a body cut mid-stream.
            raise BackendUnavailableError(
                f"cannot reach {self._where()} for {_what(key)} in {self.name}: {exc}"
            ) from exc

    def _where(self) -> str:
        return self.endpoint_url or "S3"


class _Body(io.BytesIO):
    """A request body that iterates in 1 MiB blocks instead of lines.

    botocore turns a bytes body into a ``BytesIO``; aiobotocore's httpx transport
    (the one used on trio) sends it by iterating it, and a ``BytesIO`` iterates
    by *lines*: binary weights became ~30,000 tiny writes per 8 MiB part (30x
    slower). File-like behaviour (read, seek for retries) is unchanged.
    """

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(1 << 20):
            yield block


def _put_options(
    public: bool, content_type: str | None, metadata: dict[str, str] | None
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if public:
        options["ACL"] = "public-read"
    if content_type:
        options["ContentType"] = content_type
    if metadata:
        options["Metadata"] = dict(metadata)
    return options


def _what(key: str) -> str:
    return repr(key) if key else "the listing"


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error inside a task group's exception group (else the group)."""
    leaves = [e for e in group.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
    if len(leaves) == 1:
        leaf = leaves[0]
        return _single(leaf) if isinstance(leaf, BaseExceptionGroup) else leaf
    return group


def _utc(value: Any) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else None


def _is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except ValueError:
        return False
    return True


# botocore logs every request at DEBUG with its headers: the Authorization header names
# the access key id, X-Amz-Security-Token carries a session token, and error bodies may
# echo the key id. `hgloc --debug` turns DEBUG on for every logger, so these values are
# cut out of the records where botocore makes them, before any handler sees them.
_SECRET_HEADER = re.compile(
    r"(?i)((?:authorization|x-amz-security-token)['\"]?\s*[:=]\s*b?['\"]?)[^'\"\n]+"
)
_BOTOCORE_LOGGERS = ("botocore.endpoint", "botocore.auth", "botocore.parsers")


class _RedactCredentials(logging.Filter):
    """Replaces credential headers and known key values in a record's message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_HEADER.sub(r"\1<redacted>", message)
        for secret in self.secrets:
            redacted = redacted.replace(secret, "<redacted>")
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_REDACT = _RedactCredentials()


def _redact_credentials_in_logs(*secrets: str | None) -> None:
    """Install the filter on botocore's loggers (once), and learn ``secrets`` to cut out."""
    _REDACT.secrets.update(secret for secret in secrets if secret)
    for name in _BOTOCORE_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


_LOADERS: dict[str, Any] = {}


def _shared_loader(session: Any) -> Any:
    """One botocore data loader per data path for the whole process.

    A fresh session parses S3's service model (~1 MB of JSON, ~60 ms) on every
    client; the loader caches the parsed, read-only data, so sharing it makes a
    new backend cheap.
    """
    from botocore.loaders import create_loader

    data_path = session.get_config_variable("data_path") or ""
    if data_path not in _LOADERS:
        _LOADERS[data_path] = create_loader(data_path or None)
    return _LOADERS[data_path]


def _running_on_trio() -> bool:
    import asyncio

    # anyio runs on asyncio or trio; aiohttp needs a running asyncio loop.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def _require_aiobotocore() -> None:
    try:
        import aiobotocore.session  # noqa: F401
        import botocore.exceptions  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(_MISSING_EXTRA) from exc


def _botocore_exceptions() -> Any:
    import botocore.exceptions

    return botocore.exceptions
