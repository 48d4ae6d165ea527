"""The store-time hook: a model just stored gets its facts into the index at once.

The core calls :func:`model_stored` once, after a model was fetched into the
store (from the Hub or the bucket, metadata only or in full). It never fails
the download: any error is logged as a warning, and the index, derived from
the store, catches up on the next query. A store whose facts were never
asked for gets no index file from it: the first query builds the index (all
folders, once), every model stored after that is added as it is stored.

Weights of a metadata-only model are counted from the Hub's safetensors
headers only when asked: ``ModelRequest(with_parameters=True)`` for one
model, ``Config(fetch_parameters=True)`` (``HGLOC_FETCH_PARAMETERS=1``) for
every model a localizer stores. Off by default: it costs two or three requests
per model (the shard index, each header by range, through the CDN redirect),
which in a bulk prefetch of hundreds of models would triple the requests the
Hub's rate limit counts. Without it the count stays absent (never guessed)
until ``hgloc compare --fetch-parameters`` or :func:`hgloc.fetch_parameters`
asks for it; models stored in full are always counted, from their own files.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Protocol

from hgloc.errors import HglocError
from hgloc.facts import _store

__all__ = ["StoredRequest", "model_stored"]

logger = logging.getLogger("hgloc")


class StoredRequest(Protocol):
    """What the hook reads of the :class:`~hgloc.ModelRequest` that stored the model."""

    @property
    def model_id(self) -> str: ...
    @property
    def revision(self) -> str | None: ...
    @property
    def with_parameters(self) -> bool: ...
    @property
    def skip_hf_fetch(self) -> bool: ...


async def model_stored(loc: _store.FactsStore, request: StoredRequest) -> None:
    """Index the facts of a model the store now holds; never raises (but cancellation)."""
    model_id, revision = request.model_id, request.revision
    wanted = request.with_parameters or loc.config.fetch_parameters
    with_parameters = wanted and not request.skip_hf_fetch
    try:
        await _model_stored(loc, model_id, revision, with_parameters=with_parameters)
    except (HglocError, OSError, ValueError, sqlite3.Error) as exc:
        logger.warning("facts of %s not indexed: %s", model_id, exc)
    except Exception:  # a bug here must not cost the user a download
        logger.warning("facts of %s not indexed", model_id, exc_info=True)


async def _model_stored(
    loc: _store.FactsStore, model_id: str, revision: str | None, *, with_parameters: bool
) -> None:
    path = _store.index_file(loc, _store.INDEX_FILE_NAME)
    # A store whose facts were never asked for gets no index file: the first query builds it.
    # One stat, asked for every model a bulk run stores: a thread hop would cost more.
    indexed = path is not None and path.is_file()
    if not (indexed or with_parameters):
        return
    # imported here: the localizer imports this module, and most stores have no index
    from hgloc.facts.collect import index_folder
    from hgloc.facts.index import FactsIndex

    prefixes = _store.model_prefixes(loc, model_id, revision)
    records = await _store.read_records(loc, prefixes)
    for prefix, scope in zip(prefixes, _store.scopes(loc), strict=False):
        record = records.get(prefix)
        if record is None or record.revision != revision:
            continue
        if with_parameters and not record.is_full_model:
            await _count_weights(loc, prefix, model_id, record.commit or revision or "main")
        if path is not None and indexed:
            index = FactsIndex(path)
            try:
                await index_folder(loc, index, prefix, scope)
            finally:
                await index.aclose()
        return


async def _count_weights(loc: _store.FactsStore, prefix: str, model_id: str, commit: str) -> None:
    from hgloc.facts.hub_params import fetch_counts
    from hgloc.facts.sidecar import sidecar_bytes, sidecar_counts

    key = f"{prefix}/{_store.SAFETENSORS_FILE}"
    stored = await _store.read(loc, key)
    if stored is not None and sidecar_counts(stored, commit)[0]:
        return  # counted at this commit already
    if loc.config.is_offline:
        return
    files = await fetch_counts(loc.source, model_id, commit)
    await _store.write(loc, key, sidecar_bytes(commit, files))
