"""Settings: where the store is, which bucket, which Hub.

Store and bucket settings use the names HG-Localization users already have
(``HGLOC_*`` variables, the same keyword names). Hub settings come from what
``huggingface_hub`` users already set: ``HF_ENDPOINT``, ``HF_TOKEN`` (or the
token file of ``hf auth login``), ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

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
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
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

    # HG-Localization's names for the same facts.

    def is_s3_configured(self) -> bool:
        """A bucket and both AWS keys are set (HG-Localization's test for using S3)."""
        return bool(self.s3_bucket_name and self.has_credentials())

    def has_credentials(self) -> bool:
        """Both AWS keys are set."""
        return bool(self.aws_access_key_id and self.aws_secret_access_key)

    @property
    def public_models_store_path(self) -> Path:
        """Where the public copies live: ``<store>/public``."""
        return self.store_path / "public"


# HG-Localization's dataset settings: accepted, ignored (hgloc handles models only).
_DATASET_DEFAULTS: dict[str, Any] = {
    "datasets_store_path": None,
    "default_config_name": "default_config",
    "public_datasets_json_key": "public_datasets.json",
    "public_datasets_zip_dir_prefix": "public_datasets_zip",
    "private_datasets_index_key": "private_datasets_index.json",
}
_dataset_warning_given = False


class HGLocalizationConfig(Config):
    """:class:`Config` called as HG-Localization's ``HGLocalizationConfig``.

    Takes HG-Localization's 14 arguments, positionally in its order too, and
    any :class:`Config` field by keyword. The dataset arguments are kept as
    attributes and otherwise ignored (one warning per process). As in
    HG-Localization, ``models_store_path=None`` means ``$HGLOC_MODELS_STORE_PATH``
    when set (else hgloc's default store).

    >>> HGLocalizationConfig("team-models", None, "key", "secret").is_s3_configured()
    True
    """

    datasets_store_path: str | os.PathLike[str] | None
    default_config_name: str
    public_datasets_json_key: str
    public_datasets_zip_dir_prefix: str
    private_datasets_index_key: str

    def __init__(  # HG-Localization's signature, argument for argument
        self,
        s3_bucket_name: str | None = None,
        s3_endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        s3_data_prefix: str | None = "",
        datasets_store_path: str | os.PathLike[str] | None = None,
        models_store_path: str | os.PathLike[str] | None = None,
        default_config_name: str = "default_config",
        default_revision_name: str = "default_revision",
        public_datasets_json_key: str = "public_datasets.json",
        public_datasets_zip_dir_prefix: str = "public_datasets_zip",
        public_models_json_key: str = "public_models.json",
        private_datasets_index_key: str = "private_datasets_index.json",
        private_models_index_key: str = "private_models_index.json",
        **fields: Any,
    ) -> None:
        if models_store_path is None:
            models_store_path = os.environ.get("HGLOC_MODELS_STORE_PATH") or None
        super().__init__(
            s3_bucket_name=s3_bucket_name,
            s3_endpoint_url=s3_endpoint_url,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            s3_data_prefix=s3_data_prefix,
            models_store_path=models_store_path,
            default_revision_name=default_revision_name,
            public_models_json_key=public_models_json_key,
            private_models_index_key=private_models_index_key,
            **fields,
        )
        datasets = {
            "datasets_store_path": datasets_store_path,
            "default_config_name": default_config_name,
            "public_datasets_json_key": public_datasets_json_key,
            "public_datasets_zip_dir_prefix": public_datasets_zip_dir_prefix,
            "private_datasets_index_key": private_datasets_index_key,
        }
        for name, value in datasets.items():
            object.__setattr__(self, name, value)
        given = sorted(k for k, v in datasets.items() if v != _DATASET_DEFAULTS[k])
        global _dataset_warning_given
        if given and not _dataset_warning_given:
            _dataset_warning_given = True
            logging.getLogger("hgloc").warning(
                "HGLocalizationConfig: %s ignored; hgloc handles models only", ", ".join(given)
            )
