"""A Hugging Face Hub emulator for tests and benchmarks, with a realistic repo corpus.

A distribution of its own (``hgloc-testing``, in ``testing/`` of hgloc's
repository: ``pip install -e ./testing``), never shipped in hgloc's wheel.
Running servers needs uvicorn, the moto harness moto. Start one with
``HubEmulator(make_corpus(100)).run_in_thread()`` (a context manager yielding the
base URL) or ``HubEmulator.run_in_subprocess(...)``; point clients at it with
``HF_ENDPOINT``. The stock ``huggingface_hub`` client accepts it.
"""

from __future__ import annotations

from ._corpus import SPECIAL_TOKEN, make_corpus, special_renames, special_repos, special_tokens
from ._faults import Faults
from ._hub_app import Grant, HubApp, RequestRecord
from ._moto import MotoServer
from ._repos import FileEntry, Repo, git_blob_sha1
from ._s3_proxy import S3Proxy
from ._server import HubEmulator, run_asgi_in_thread
from ._xet import XetMode

__all__ = [
    "SPECIAL_TOKEN",
    "Faults",
    "FileEntry",
    "Grant",
    "HubApp",
    "HubEmulator",
    "MotoServer",
    "Repo",
    "RequestRecord",
    "S3Proxy",
    "XetMode",
    "git_blob_sha1",
    "make_corpus",
    "run_asgi_in_thread",
    "special_renames",
    "special_repos",
    "special_tokens",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        _obj.__module__ = __name__  # reprs and docs show the public path
del _name, _obj
