"""The team bucket: the tier between the local store and the Hub.

:class:`BucketTier` uploads model folders, reads them back checked, and keeps
the bucket's JSON indexes; :class:`PublicReader` reads its public models with
no credentials; :class:`BucketAccess` opens whichever of the two the
configuration and the credentials allow.
"""

from __future__ import annotations

from hgloc.bucket._access import BucketAccess
from hgloc.bucket._conditions import honours_conditions, require_conditions, single_writer_mode
from hgloc.bucket._lease import Lease, Leases, fence
from hgloc.bucket._public_reader import PublicReader
from hgloc.bucket._tier import (
    BucketEntry,
    BucketTier,
    checked_stream,
    load_at_commit,
    merge_entries,
)

__all__ = [
    "BucketAccess",
    "BucketEntry",
    "BucketTier",
    "Lease",
    "Leases",
    "PublicReader",
    "checked_stream",
    "fence",
    "honours_conditions",
    "load_at_commit",
    "merge_entries",
    "require_conditions",
    "single_writer_mode",
]
