"""Reading a local file in chunks: from the page cache on the event loop, from disk in a thread.

A worker-thread hop per chunk costs more than reading a cached megabyte:
serving a 1 GB file here, ``hgloc serve`` gave 3.5-3.9 GB/s with a hop per
1 MiB and gives 4.0-4.5 with none (nginx's ``sendfile``: 3.1-3.6; the hops
also put a second busy thread beside the client on two cores). Reading with
``RWF_NOWAIT`` returns at once when the page cache holds the bytes and fails,
instead of waiting for the disk, when it does not: a cached file never leaves
the event loop and a cold one never blocks it (docs/benchmarks.md).
"""

from __future__ import annotations

import errno
import os
from typing import BinaryIO

import anyio.to_thread

__all__ = ["ChunkReader"]

_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)  # Linux ≥ 4.14; elsewhere always a thread


class ChunkReader:
    """Reads ``size`` bytes at an offset of an open file (which it does not close).

    One scratch buffer is reused for the cached reads, then copied into the
    ``bytes`` returned: the copy is of memory the CPU just wrote, cheaper than
    a fresh buffer per chunk, and callers get immutable ``bytes`` as before.
    """

    def __init__(self, file: BinaryIO, chunk_size: int) -> None:
        self._file = file
        self._scratch = bytearray(chunk_size) if _NOWAIT is not None else bytearray()
        self._nowait = _NOWAIT is not None

    async def read(self, size: int, offset: int) -> bytes:
        """Up to ``size`` bytes at ``offset``; fewer only at the end of the file."""
        if self._nowait and size <= len(self._scratch):
            cached = self._read_cached(size, offset)
            if cached is not None:
                return cached
        return await anyio.to_thread.run_sync(_read_at, self._file, size, offset)

    def _read_cached(self, size: int, offset: int) -> bytes | None:
        view = memoryview(self._scratch)[:size]
        try:
            got = os.preadv(self._file.fileno(), [view], offset, _NOWAIT or 0)
        except BlockingIOError:
            return None  # not (all) in the page cache: the thread waits for the disk
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                self._nowait = False  # this filesystem cannot: threads from now on
                return None
            raise
        if got < size:
            # Part of it cached, or the end of the file: the thread reads exactly.
            return None
        return bytes(view)


def _read_at(file: BinaryIO, size: int, offset: int) -> bytes:
    file.seek(offset)
    return file.read(size)
