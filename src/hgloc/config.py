"""Settings: where the store is, which bucket, which Hub.

Store and bucket settings use the names HG-Localization users already have
(``HGLOC_*`` variables, the same keyword names). Hub settings come from what
``huggingface_hub`` users already set: ``HF_ENDPOINT``, ``HF_TOKEN`` (or the
token file of ``hf auth login``), ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_ENDPOINT",
    "DEFAULT_SYNC_CONCURRENCY",
    "Config",
    "HGLocalizationConfig",
    "default_store_path",
]

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_CONCURRENCY = 64  # models in flight in a bulk run
DEFAULT_SYNC_CONCURRENCY = 16  # models uploaded at once by a bucket sync

_TRUE = {"1", "true", "yes", "on", "y", "t"}

# HGLOC_* variable -> Config field.
_ENV_FIELDS = {
    "HGLOC_MODELS_STORE_PATH": "models_store_path",
    "HGLOC_S3_BUCKET_NAME": "s3_bucket_name",
    "HGLOC_S3_ENDPOINT_URL": "s3_endpoint_url",
    "HGLOC_AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "HGLOC_AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "HGLOC_S3_DATA_PREFIX": "s3_data_prefix",
    "HGLOC_PUBLIC_MODELS_JSON_KEY": "public_models_json_key",
    "HGLOC_PRIVATE_MODELS_INDEX_KEY": "private_models_index_key",
    "HGLOC_DEFAULT_REVISION_NAME": "default_revision_name",
    "HGLOC_REQUEST_TIMEOUT": "request_timeout",
    "HGLOC_MIN_TRANSFER_RATE": "min_transfer_rate",
    "HGLOC_TRANSFER_RATE_WINDOW": "transfer_rate_window",
    "HGLOC_FETCH_PARAMETERS": "fetch_parameters",
}


def default_store_path() -> Path:
    """The user cache directory's ``models`` folder (``~/.cache/hgloc/models`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("hgloc")) / "models"


def _path_or_none(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or value == "" else Path(value).expanduser()


def _none_if_empty(value: str | None) -> str | None:
    return value or None


def _strip_slashes(value: str | None) -> str:
    return (value or "").strip("/")


def _flag(value: bool | str) -> bool:
    return value.strip().lower() in _TRUE if isinstance(value, str) else bool(value)


def _secret_repr(value: object) -> str:
    return "None" if value is None else "'***'"


@attrs.define(kw_only=True)
class Config:
    """Where hgloc keeps models and where it fetches them from.

    Every field has a default, so ``Config()`` is a local store in the user
    cache folder that talks to the Hub ``huggingface_hub`` would use. Use
    :meth:`from_env` to read ``HGLOC_*`` variables.

    >>> Config(models_store_path="/data/models", s3_bucket_name="team-models")  # doctest: +ELLIPSIS
    Config(models_store_path=PosixPath('/data/models'), s3_bucket_name='team-models', ...)

    Secrets (the Hub token, the AWS secret key) never appear in ``repr``.

    ``request_timeout`` (s) is the deadline of each small Hub request as a
    whole, first byte sent to last received. A big file's bytes must come at
    ``min_transfer_rate`` bytes/s or more, measured over ``transfer_rate_window``
    seconds (0 turns the check off); a slower connection is dropped and resumed,
    and a file that stays that slow fails with a clear message.
    """

    models_store_path: Path | None = attrs.field(default=None, converter=_path_or_none)
    s3_bucket_name: str | None = attrs.field(default=None, converter=_none_if_empty)
    s3_endpoint_url: str | None = attrs.field(default=None, converter=_none_if_empty)
    aws_access_key_id: str | None = attrs.field(
        default=None, converter=_none_if_empty, repr=_secret_repr
    )
    aws_secret_access_key: str | None = attrs.field(
        default=None, converter=_none_if_empty, repr=_secret_repr
    )
    s3_data_prefix: str = attrs.field(default="", converter=_strip_slashes)
    public_models_json_key: str = "public_models.json"
    private_models_index_key: str = "private_models_index.json"
    default_revision_name: str = "default_revision"
    hf_endpoint: str | None = attrs.field(default=None, converter=_none_if_empty)
    hf_token: str | None = attrs.field(default=None, converter=_none_if_empty, repr=_secret_repr)
    offline: bool | None = None
    request_timeout: float = attrs.field(default=30.0, converter=float)
    min_transfer_rate: float = attrs.field(default=1024.0, converter=float)
    transfer_rate_window: float = attrs.field(default=60.0, converter=float)
    max_retries: int = 6
    # count the weights of each metadata-only model stored from the Hub (a few range requests)
    fetch_parameters: bool = attrs.field(default=False, converter=_flag)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build a config from ``HGLOC_*`` variables, then apply ``overrides``.

        >>> Config.from_env({"HGLOC_MODELS_STORE_PATH": "/srv/models"}).store_path
        PosixPath('/srv/models')
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: env[name] for name, field in _ENV_FIELDS.items() if env.get(name)
        }
        values.update(overrides)
        return cls(**values)

    # Derived settings, read at use time so a changed environment is seen.

    @property
    def store_path(self) -> Path:
        """The local store's root folder."""
        return self.models_store_path or default_store_path()

    @property
    def endpoint(self) -> str:
        """The Hub to talk to: ``hf_endpoint``, else ``HF_ENDPOINT``, else huggingface.co."""
        return (self.hf_endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")

    @property
    def is_offline(self) -> bool:
        """``offline``, else ``HF_HUB_OFFLINE``: when true hgloc makes no Hub request at all."""
        if self.offline is not None:
            return self.offline
        return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE

    def token(self) -> str | None:
        """The Hub token to send: ``hf_token``, else ``HF_TOKEN`` or the ``hf auth login`` file.

        The last two are implicit in huggingface_hub's terms: not sent when
        ``HF_HUB_DISABLE_IMPLICIT_TOKEN`` is set; ``hf_token`` always is.
        """
        from huggingface_hub.utils import get_token_to_send  # type: ignore[attr-defined]

        return get_token_to_send(self.hf_token or None)

    @property
    def has_bucket(self) -> bool:
        return self.s3_bucket_name is not None

    @property
    def bucket_folder(self) -> str | None:
        """This bucket's folder in the local store (``by_bucket/<it>``); ``None`` without one."""
        if self.s3_bucket_name is None:
            return None
        from hgloc.layout import bucket_id

        return bucket_id(self.s3_bucket_name, self.s3_endpoint_url)


HGLocalizationConfig = Config
"""The documented name of :class:`Config`, for HG-Localization users."""
