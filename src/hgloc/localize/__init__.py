"""The core: localize models from the Hub into a store, through the team bucket.

:class:`Localizer` is the façade. A :class:`ModelRequest` says what to do
for one model; the read path asks its tiers in order (own store, public copy,
bucket, Hub); sharing uploads what was fetched; one bulk runner drives
prefetch, the bucket sync and verify.
"""

from __future__ import annotations

from hgloc.localize._bulk import ProgressCallback
from hgloc.localize._localizer import Localizer
from hgloc.localize._renames import find_renamed
from hgloc.localize._request import ModelRef, ModelRequest, parse_model_ref
from hgloc.localize._results import ModelResult, PrefetchReport, Source, Status
from hgloc.localize._verify import VerifyReport, VerifyResult

__all__ = [
    "Localizer",
    "ModelRef",
    "ModelRequest",
    "ModelResult",
    "PrefetchReport",
    "ProgressCallback",
    "Source",
    "Status",
    "VerifyReport",
    "VerifyResult",
    "find_renamed",
    "parse_model_ref",
]
