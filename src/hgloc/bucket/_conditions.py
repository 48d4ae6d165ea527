"""Does the bucket's server honour conditional writes? Probed once per store, then trusted.

Index updates and leases are safe only if ``If-None-Match: *`` and
``If-Match`` are enforced. Some S3-compatible servers accept the headers and
ignore them, which turns every safe update into a silent race. The probe
writes a fresh object with ``If-None-Match: *``, then again (that write must
fail), then with an ``If-Match`` that cannot match (it must fail too), and
deletes it: the bucket keeps no trace.

``HGLOC_S3_SINGLE_WRITER=1`` declares that one process alone writes to the
bucket: multi-writer operations then go ahead without the probe, and leases
are granted locally (no single-flight across replicas).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import uuid
import weakref

from hgloc.backends import ConditionalPut, MemoryBackend, StorageBackend
from hgloc.errors import BackendUnavailableError, ConditionalWritesIgnoredError

__all__ = [
    "PROBE_PREFIX",
    "SINGLE_WRITER_ENV",
    "honours_conditions",
    "require_conditions",
    "single_writer_mode",
]

logger = logging.getLogger("hgloc")

PROBE_PREFIX = "_hgloc/conditions-probe-"
SINGLE_WRITER_ENV = "HGLOC_S3_SINGLE_WRITER"
_NEVER_AN_ETAG = '"00000000000000000000000000000000-hgloc-probe"'

# Per store instance: a store is one bucket and prefix, and results die with it.
_PROBED: weakref.WeakKeyDictionary[StorageBackend, bool] = weakref.WeakKeyDictionary()


def single_writer_mode() -> bool:
    """Whether ``HGLOC_S3_SINGLE_WRITER`` declares this process the bucket's only writer."""
    return os.environ.get(SINGLE_WRITER_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _where(backend: object) -> str:
    name = str(getattr(backend, "name", backend))
    endpoint = getattr(backend, "endpoint_url", None)
    return f"{name} (server {endpoint})" if endpoint else f"{name} (AWS S3)"


async def honours_conditions(backend: StorageBackend) -> bool:
    """Whether ``backend`` refuses writes whose condition fails (probed once, remembered).

    A store without conditional puts (no :class:`~hgloc.backends.ConditionalPut`)
    cannot be probed and counts as honouring them: its own ``update_json`` decides.
    """
    known = _PROBED.get(backend)
    if known is not None:
        return known
    if not isinstance(backend, ConditionalPut) or isinstance(backend, MemoryBackend):
        return True  # nothing to probe; a memory store enforces its own conditions
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}.json"  # fresh: the first write must land
    body = json.dumps({"written": dt.datetime.now(dt.UTC).isoformat()}).encode()
    first = await backend.put_if_absent(key, body, content_type="application/json")
    try:
        absent_ignored = await backend.put_if_absent(key, body, content_type="application/json")
        match_ignored = await backend.put_if_match(
            key, body, _NEVER_AN_ETAG, content_type="application/json"
        )
    finally:
        if first is not None:
            with contextlib.suppress(Exception):
                await backend.delete(key)
    if first is None:  # a conflict on a key nobody else knows: transient, decide nothing
        raise BackendUnavailableError(
            f"{_where(backend)} refused to create {key} with If-None-Match: *; try again"
        )
    honoured = absent_ignored is None and match_ignored is None
    if not honoured:
        ignored = [
            name
            for name, result in (("If-None-Match", absent_ignored), ("If-Match", match_ignored))
            if result is not None
        ]
        logger.warning("%s ignores %s on PutObject", _where(backend), " and ".join(ignored))
    _PROBED[backend] = honoured
    return honoured


async def require_conditions(backend: StorageBackend, what: str) -> None:
    """Refuse ``what`` (a multi-writer operation) on a store that ignores conditions.

    Raises :class:`~hgloc.errors.ConditionalWritesIgnoredError` naming the store
    and its server, unless ``HGLOC_S3_SINGLE_WRITER=1``.
    """
    if single_writer_mode():
        return
    if await honours_conditions(backend):
        return
    raise ConditionalWritesIgnoredError(
        f"{_where(backend)} ignores conditional writes (If-None-Match / If-Match), so "
        f"{what} would race other writers silently; refusing. Use a server that enforces "
        f"them (AWS S3, MinIO, Ceph RGW, Cloudflare R2...), or set {SINGLE_WRITER_ENV}=1 "
        "if only one process ever writes to this bucket"
    )
