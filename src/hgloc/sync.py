"""Blocking versions of hgloc's functions, for scripts and notebooks.

Each function has the signature of its async twin in :mod:`hgloc` and runs
it on an event loop in a worker thread (an anyio blocking portal), so it
works in a plain script and also when the caller already runs an event loop
(a notebook cell, a web handler). No logic lives here.

>>> from hgloc import sync
>>> ok, path = sync.download_model_metadata("openai-community/gpt2")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from anyio.from_thread import BlockingPortalProvider

from hgloc import _api, collections, hf_cache, versions
from hgloc.facts import api as _facts

__all__ = [
    "add_to_collection",
    "adopt",
    "compare",
    "create_collection",
    "download_model_metadata",
    "export_models",
    "fetch_parameters",
    "get_cached_model_card_content",
    "get_cached_model_config_content",
    "get_collection",
    "get_model_card_content",
    "get_model_card_url",
    "get_model_config_content",
    "import_cache",
    "import_folder",
    "list_collections",
    "list_local_models",
    "list_s3_models",
    "load_config",
    "lock",
    "lock_collection",
    "model_facts",
    "prefetch",
    "query",
    "rebuild_index",
    "refs",
    "remove_from_collection",
    "stored_refs",
    "sync_all_local_models_to_s3",
    "sync_collection",
    "sync_local_model_to_s3",
    "verify_locked",
]

P = ParamSpec("P")
T = TypeVar("T")

# One portal thread shared by every thread that is inside a call at the moment;
# it stops when the last call returns.
_portals = BlockingPortalProvider()


def blocking(func: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """Wrap an async function into a blocking one with the same signature."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with _portals as portal:
            return portal.call(functools.partial(func, *args, **kwargs))

    wrapper.__module__ = __name__
    return wrapper


download_model_metadata = blocking(_api.download_model_metadata)
list_local_models = blocking(_api.list_local_models)
get_cached_model_card_content = blocking(_api.get_cached_model_card_content)
get_cached_model_config_content = blocking(_api.get_cached_model_config_content)
get_model_card_content = blocking(_api.get_model_card_content)
get_model_config_content = blocking(_api.get_model_config_content)
prefetch = blocking(_api.prefetch)
load_config = blocking(_api.load_config)
list_s3_models = blocking(_api.list_s3_models)
sync_local_model_to_s3 = blocking(_api.sync_local_model_to_s3)
sync_all_local_models_to_s3 = blocking(_api.sync_all_local_models_to_s3)
export_models = blocking(hf_cache.export_models)
import_cache = blocking(hf_cache.import_cache)
import_folder = blocking(hf_cache.import_folder)
query = blocking(_facts.query)
compare = blocking(_facts.compare)
fetch_parameters = blocking(_facts.fetch_parameters)
model_facts = blocking(_facts.model_facts)
rebuild_index = blocking(_facts.rebuild_index)
adopt = blocking(_api.adopt)
get_model_card_url = _api.get_model_card_url  # no I/O: nothing to wait for

# versions, lock files and collections
lock = blocking(versions.lock)
refs = blocking(versions.refs)
stored_refs = blocking(versions.stored_refs)
verify_locked = blocking(versions.verify_locked)
create_collection = blocking(collections.create_collection)
add_to_collection = blocking(collections.add_to_collection)
remove_from_collection = blocking(collections.remove_from_collection)
list_collections = blocking(collections.list_collections)
get_collection = blocking(collections.get_collection)
sync_collection = blocking(collections.sync_collection)
lock_collection = blocking(collections.lock_collection)
