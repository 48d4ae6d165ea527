"""Streaming an object into S3: one PutObject when short, else a multipart upload.

Parts are 8 MiB, one uploading while the next fills (so about two parts are in
memory). If the stream raises or the task is cancelled, the upload is aborted
and nothing becomes visible.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import anyio

from hgloc.backends._s3._client import Body

__all__ = ["PART_SIZE", "upload_stream"]

PART_SIZE = 8 * 1024 * 1024
"""Multipart part size; a stream shorter than this is sent with one PutObject."""

_ABORT_TIMEOUT = 30.0

_Parts = list[dict[str, Any]]  # CompleteMultipartUpload's {"PartNumber", "ETag"} list


class Request(Protocol):
    """Calls one S3 operation on the store's bucket (``S3Backend._request``)."""

    def __call__(self, operation: str, key: str, **kwargs: Any) -> Awaitable[dict[str, Any]]: ...


async def upload_stream(
    request: Request,
    key: str,
    full: str,
    chunks: AsyncIterable[bytes],
    options: dict[str, Any],
    put_whole: Callable[[bytes], Awaitable[str]],
) -> tuple[int, str]:
    """Store ``chunks`` at ``full``; return the size and the ETag.

    Below :data:`PART_SIZE` the bytes go to ``put_whole`` (one PutObject);
    above, a multipart upload created with ``options`` (ACL, metadata, type).
    """
    iterator = aiter(chunks)
    buffer = bytearray()
    while len(buffer) < PART_SIZE:
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            return len(buffer), await put_whole(bytes(buffer))
        buffer += chunk
    created = await request("create_multipart_upload", key, Key=full, **options)
    upload_id: str = created["UploadId"]
    try:
        size, parts = await _upload_parts(request, key, full, upload_id, iterator, buffer)
        completed = await request(
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
            await request("abort_multipart_upload", key, Key=full, UploadId=upload_id)
        raise
    return size, str(completed["ETag"])


async def _upload_parts(
    request: Request,
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
                response = await request(
                    "upload_part",
                    key,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=Body(data),
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


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error inside a task group's exception group (else the group)."""
    leaves = [e for e in group.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
    if len(leaves) == 1:
        leaf = leaves[0]
        return _single(leaf) if isinstance(leaf, BaseExceptionGroup) else leaf
    return group
