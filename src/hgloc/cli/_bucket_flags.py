"""The team bucket as commands see it: is one set, and --make-public / --no-s3-upload."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hgloc.cli._app import BadInputError

if TYPE_CHECKING:
    from hgloc.config import Config
    from hgloc.localize import Localizer

__all__ = [
    "bucket_location",
    "check_share_flags",
    "no_credentials_note",
    "require_bucket",
    "upload_allowed",
]

_NO_BUCKET = (
    "set HGLOC_S3_BUCKET_NAME (and HGLOC_S3_ENDPOINT_URL for an S3-compatible store "
    "that is not AWS)"
)


def bucket_location(config: Config) -> str:
    """``s3://bucket/prefix``: where the team's models are, for messages."""
    return "/".join(p for p in (f"s3://{config.s3_bucket_name}", config.s3_data_prefix) if p)


def require_bucket(config: Config, what: str) -> None:
    """Exit 2 with what to set when no bucket is configured (a setup problem, not a failure)."""
    if not config.has_bucket:
        raise BadInputError(f"{what} needs a team bucket, and none is configured: {_NO_BUCKET}")


def check_share_flags(config: Config, *, make_public: bool, no_s3_upload: bool) -> None:
    """--make-public publishes through the bucket: it needs one, and an upload."""
    if not make_public:
        return
    if no_s3_upload:
        raise BadInputError(
            "--make-public shares the model through the bucket; it cannot go with --no-s3-upload"
        )
    require_bucket(config, "--make-public")


async def upload_allowed(loc: Localizer, *, upload: bool, make_public: bool) -> bool:
    """Whether the core may upload what it fetches: not without AWS credentials.

    Without them the bucket is read-only (its public manifest), and the core keeps
    models fetched from the Hub local; the CLI then says so. --make-public still
    asks, and fails saying why.
    """
    if not upload or make_public or not loc.config.has_bucket:
        return upload
    return await loc.bucket() is not None


def no_credentials_note(config: Config, what: str) -> str:
    """The stderr note for a model kept local because nobody can upload it."""
    return (
        f"Note: no AWS credentials for {bucket_location(config)}: {what} "
        "(set HGLOC_AWS_ACCESS_KEY_ID and HGLOC_AWS_SECRET_ACCESS_KEY to share)"
    )
