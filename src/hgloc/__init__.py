"""hgloc: localize Hugging Face models into a store you control.

The API is async; blocking versions of the same functions live in
:mod:`hgloc.sync` (and, under the documented names, in ``hg_localization``).

>>> import hgloc
>>> ok, path = await hgloc.download_model_metadata("openai-community/gpt2")  # doctest: +SKIP

Names are imported on first use, so ``import hgloc`` (and ``hgloc --help``)
stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hgloc._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "adopt": "hgloc._api",
    "download_model_metadata": "hgloc._api",
    "get_cached_model_card_content": "hgloc._api",
    "get_cached_model_config_content": "hgloc._api",
    "get_model_card_content": "hgloc._api",
    "get_model_card_url": "hgloc._api",
    "get_model_config_content": "hgloc._api",
    "list_local_models": "hgloc._api",
    "load_config": "hgloc._api",
    "prefetch": "hgloc._api",
    "sync_local_model_to_s3": "hgloc._api",
    "sync_all_local_models_to_s3": "hgloc._api",
    "list_s3_models": "hgloc._api",
    "export_models": "hgloc.hf_cache",
    "import_cache": "hgloc.hf_cache",
    "import_folder": "hgloc.hf_cache",
    "ExportFormat": "hgloc.hf_cache",
    "ExportReport": "hgloc.hf_cache",
    "ImportReport": "hgloc.hf_cache",
    "BucketEntry": "hgloc.bucket",
    "BucketTier": "hgloc.bucket",
    "Config": "hgloc.config",
    "HGLocalizationConfig": "hgloc.config",
    "HglocError": "hgloc.errors",
    "NoBucketConfiguredError": "hgloc.errors",
    "Localizer": "hgloc.localize",
    "ModelRef": "hgloc.localize",
    "ModelRequest": "hgloc.localize",
    "ModelResult": "hgloc.localize",
    "PrefetchReport": "hgloc.localize",
    "ProgressCallback": "hgloc.localize",
    "Source": "hgloc.localize",
    "Status": "hgloc.localize",
    "VerifyReport": "hgloc.localize",
    "VerifyResult": "hgloc.localize",
    "parse_model_ref": "hgloc.localize",
    "RetryPolicy": "hgloc.sources",
    "CachedModel": "hgloc.store",
    "ByteProgress": "hgloc.transfer",
    "TransferSettings": "hgloc.transfer",
    "ExpressionError": "hgloc.errors",
    "HeaderError": "hgloc.errors",
    "compare": "hgloc.facts.api",
    "fetch_parameters": "hgloc.facts.api",
    "model_facts": "hgloc.facts.api",
    "query": "hgloc.facts.api",
    "rebuild_index": "hgloc.facts.api",
    "FetchedParameters": "hgloc.facts.api",
    "ModelFacts": "hgloc.facts.api",
    "QueryResult": "hgloc.facts.api",
    "CompareRow": "hgloc.facts.compare",
    "Comparison": "hgloc.facts.compare",
    "Facts": "hgloc.facts.normalize",
    # versions, lock files and collections
    "lock": "hgloc.versions",
    "refs": "hgloc.versions",
    "stored_refs": "hgloc.versions",
    "verify_locked": "hgloc.versions",
    "create_collection": "hgloc.collections",
    "add_to_collection": "hgloc.collections",
    "remove_from_collection": "hgloc.collections",
    "list_collections": "hgloc.collections",
    "get_collection": "hgloc.collections",
    "sync_collection": "hgloc.collections",
    "lock_collection": "hgloc.collections",
    "Collection": "hgloc.collections",
    "CollectionItem": "hgloc.collections",
    "LockFile": "hgloc.lockfile",
}

__all__ = [
    "BucketEntry",
    "BucketTier",
    "ByteProgress",
    "CachedModel",
    "Collection",
    "CollectionItem",
    "CompareRow",
    "Comparison",
    "Config",
    "ExportFormat",
    "ExportReport",
    "ExpressionError",
    "Facts",
    "FetchedParameters",
    "HGLocalizationConfig",
    "HeaderError",
    "HglocError",
    "ImportReport",
    "Localizer",
    "LockFile",
    "ModelFacts",
    "ModelRef",
    "ModelRequest",
    "ModelResult",
    "NoBucketConfiguredError",
    "PrefetchReport",
    "ProgressCallback",
    "QueryResult",
    "RetryPolicy",
    "Source",
    "Status",
    "TransferSettings",
    "VerifyReport",
    "VerifyResult",
    "__version__",
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
    "parse_model_ref",
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

if TYPE_CHECKING:
    from hgloc._api import (
        adopt,
        download_model_metadata,
        get_cached_model_card_content,
        get_cached_model_config_content,
        get_model_card_content,
        get_model_card_url,
        get_model_config_content,
        list_local_models,
        list_s3_models,
        load_config,
        prefetch,
        sync_all_local_models_to_s3,
        sync_local_model_to_s3,
    )
    from hgloc.bucket import BucketEntry, BucketTier
    from hgloc.collections import (
        Collection,
        CollectionItem,
        add_to_collection,
        create_collection,
        get_collection,
        list_collections,
        lock_collection,
        remove_from_collection,
        sync_collection,
    )
    from hgloc.config import Config, HGLocalizationConfig
    from hgloc.errors import ExpressionError, HeaderError, HglocError, NoBucketConfiguredError
    from hgloc.facts.api import (
        FetchedParameters,
        ModelFacts,
        QueryResult,
        compare,
        fetch_parameters,
        model_facts,
        query,
        rebuild_index,
    )
    from hgloc.facts.compare import CompareRow, Comparison
    from hgloc.facts.normalize import Facts
    from hgloc.hf_cache import (
        ExportFormat,
        ExportReport,
        ImportReport,
        export_models,
        import_cache,
        import_folder,
    )
    from hgloc.localize import (
        Localizer,
        ModelRef,
        ModelRequest,
        ModelResult,
        PrefetchReport,
        ProgressCallback,
        Source,
        Status,
        VerifyReport,
        VerifyResult,
        parse_model_ref,
    )
    from hgloc.lockfile import LockFile
    from hgloc.sources import RetryPolicy
    from hgloc.store import CachedModel
    from hgloc.transfer import ByteProgress, TransferSettings
    from hgloc.versions import lock, refs, stored_refs, verify_locked


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hgloc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if isinstance(value, type) and value.__module__.startswith("hgloc."):
        value.__module__ = "hgloc"  # reprs and docs show the public path
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
