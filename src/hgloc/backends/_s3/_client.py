"""One aiobotocore client per S3 store: made on first use, bounded, errors translated.

aiobotocore is imported only when a client is made (or the extra is checked),
so hgloc works without the ``s3`` extra until someone asks for S3.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import anyio

from hgloc.backends._s3._redact import redact_credentials_in_logs
from hgloc.errors import (
    BackendUnavailableError,
    MissingExtraError,
    ObjectNotFoundError,
    StorePermissionError,
)

__all__ = [
    "Body",
    "S3Client",
    "botocore_exceptions",
    "error_code",
    "put_options",
    "require_aiobotocore",
    "utc",
]

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


class S3Client:
    """The connection side of an :class:`~hgloc.backends.S3Backend`: one bucket, one client.

    The client is made on first use and belongs to the event loop that made it;
    at most ``max_concurrency`` requests are in flight at once. ``name`` is the
    store's name, used in error messages.
    """

    def __init__(
        self,
        bucket: str,
        *,
        name: str,
        endpoint_url: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        region: str | None,
        max_concurrency: int,
        anonymous: bool,
    ) -> None:
        self.bucket = bucket
        self.name = name
        self.endpoint_url = endpoint_url
        self.region = region
        self.max_concurrency = max_concurrency
        self.anonymous = anonymous
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._opening: anyio.Lock | None = None
        self._limit: anyio.Semaphore | None = None

    async def request(
        self,
        operation: str,
        key: str,
        *,
        passthrough: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call one S3 operation on this bucket, bounded and with errors translated.

        Error codes in ``passthrough`` come back as botocore's ``ClientError``.
        """
        client = await self._ensure_client()
        async with self._limited():
            with self.errors(key, passthrough=passthrough):
                response: dict[str, Any] = await getattr(client, operation)(
                    Bucket=self.bucket, **kwargs
                )
        return response

    async def get(self, key: str, full: str) -> tuple[bytes, str]:
        """The whole object at ``full`` and its ETag, read under one permit."""
        client = await self._ensure_client()
        async with self._limited():
            with self.errors(key):
                response = await client.get_object(Bucket=self.bucket, Key=full)
                async with response["Body"] as body:
                    data: bytes = await body.read()
        return data, str(response["ETag"])

    async def put_if(
        self, key: str, full: str, body: bytes, etag: str | None, **options: Any
    ) -> bool:
        """PutObject only if the ETag is still ``etag`` (``None``: only if absent).

        ``False`` when another writer got there first (412, 409, or the object
        was deleted since it was read).
        """
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            await self.request(
                "put_object",
                key,
                passthrough=_CONFLICT_CODES,
                Key=full,
                Body=Body(body),
                **options,
                **condition,
            )
        except botocore_exceptions().ClientError as exc:
            if error_code(exc) not in _CONFLICT_CODES:
                raise  # pragma: no cover - request() translates everything else
            return False
        except ObjectNotFoundError:
            return False  # deleted between our read and our If-Match write
        return True

    async def put_conditional(
        self, key: str, full: str, body: bytes, etag: str | None, **options: Any
    ) -> str | None:
        """:meth:`put_if`, answering the new object's ETag (``None``: the condition failed)."""
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            response = await self.request(
                "put_object",
                key,
                passthrough=_CONFLICT_CODES,
                Key=full,
                Body=Body(body),
                **options,
                **condition,
            )
        except botocore_exceptions().ClientError as exc:
            if error_code(exc) not in _CONFLICT_CODES:
                raise  # pragma: no cover - request() translates everything else
            return None
        except ObjectNotFoundError:
            return None  # If-Match on an object deleted since it was read
        return str(response["ETag"])

    async def presign(self, key: str, full: str, seconds: int) -> str:
        """A URL anyone may GET ``full`` at for ``seconds`` (signed locally: no request)."""
        client = await self._ensure_client()
        with self.errors(key):
            url: str = await client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": full}, ExpiresIn=seconds
            )
        return url

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        # The lock belongs to the event loop that used it; a later use may be another.
        self._opening = None
        if stack is not None:
            await stack.aclose()

    @contextlib.contextmanager
    def errors(self, key: str, *, passthrough: frozenset[str] = frozenset()) -> Iterator[None]:
        """Translate botocore's errors into hgloc's, naming the key and the store."""
        errors = botocore_exceptions()
        try:
            yield
        except errors.ClientError as exc:
            code = error_code(exc)
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

    @contextlib.asynccontextmanager
    async def _limited(self) -> AsyncIterator[None]:
        if self._limit is None:  # pragma: no cover - set together with the client
            raise RuntimeError("S3 client not open")
        async with self._limit:
            yield

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

        redact_credentials_in_logs(self._access_key_id, self._secret_access_key)

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


class Body(io.BytesIO):
    """A request body that iterates in 1 MiB blocks instead of lines.

    botocore turns a bytes body into a ``BytesIO``; aiobotocore's httpx transport
    (the one used on trio) sends it by iterating it, and a ``BytesIO`` iterates
    by *lines*: binary weights became ~30,000 tiny writes per 8 MiB part (30x
    slower). File-like behaviour (read, seek for retries) is unchanged.
    """

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(1 << 20):
            yield block


def put_options(
    public: bool, content_type: str | None, metadata: dict[str, str] | None
) -> dict[str, Any]:
    """PutObject / CreateMultipartUpload arguments for ``put``'s options."""
    options: dict[str, Any] = {}
    if public:
        options["ACL"] = "public-read"
    if content_type:
        options["ContentType"] = content_type
    if metadata:
        options["Metadata"] = dict(metadata)
    return options


def error_code(exc: Any) -> str:
    """The S3 error code of a botocore ``ClientError`` (``"NoSuchKey"``, ``"412"``...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def utc(value: Any) -> dt.datetime | None:
    """A botocore timestamp in UTC (``None`` if absent)."""
    return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else None


def _what(key: str) -> str:
    return repr(key) if key else "the listing"


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


def require_aiobotocore() -> None:
    """Raise :class:`~hgloc.errors.MissingExtraError` naming the extra if aiobotocore is absent."""
    try:
        import aiobotocore.session  # noqa: F401
        import botocore.exceptions  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(_MISSING_EXTRA) from exc


def botocore_exceptions() -> Any:
    """``botocore.exceptions``, imported when first needed."""
    import botocore.exceptions

    return botocore.exceptions
