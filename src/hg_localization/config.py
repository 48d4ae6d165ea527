"""HG-Localization's ``config`` module: the configuration class and ``default_config``.

``default_config`` is read from the ``HGLOC_*`` variables when this module is
first imported (as HG-Localization did; hgloc does not read a ``.env`` file).
The upper-case names are copies of its values.
"""

from __future__ import annotations

from hgloc.config import HGLocalizationConfig

__all__ = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "DATASETS_STORE_PATH",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_REVISION_NAME",
    "MODELS_STORE_PATH",
    "PRIVATE_DATASETS_INDEX_KEY",
    "PRIVATE_MODELS_INDEX_KEY",
    "PUBLIC_DATASETS_JSON_KEY",
    "PUBLIC_DATASETS_ZIP_DIR_PREFIX",
    "PUBLIC_MODELS_JSON_KEY",
    "S3_BUCKET_NAME",
    "S3_DATA_PREFIX",
    "S3_ENDPOINT_URL",
    "HGLocalizationConfig",
    "default_config",
]

default_config = HGLocalizationConfig.from_env()

S3_BUCKET_NAME = default_config.s3_bucket_name
S3_ENDPOINT_URL = default_config.s3_endpoint_url
AWS_ACCESS_KEY_ID = default_config.aws_access_key_id
AWS_SECRET_ACCESS_KEY = default_config.aws_secret_access_key
S3_DATA_PREFIX = default_config.s3_data_prefix
MODELS_STORE_PATH = default_config.store_path  # hgloc's addition: HG-Localization had none
DEFAULT_REVISION_NAME = default_config.default_revision_name
PUBLIC_MODELS_JSON_KEY = default_config.public_models_json_key
PRIVATE_MODELS_INDEX_KEY = default_config.private_models_index_key
# Dataset settings: accepted for HG-Localization's callers; hgloc handles models only.
DATASETS_STORE_PATH = default_config.datasets_store_path
DEFAULT_CONFIG_NAME = default_config.default_config_name
PUBLIC_DATASETS_JSON_KEY = default_config.public_datasets_json_key
PUBLIC_DATASETS_ZIP_DIR_PREFIX = default_config.public_datasets_zip_dir_prefix
PRIVATE_DATASETS_INDEX_KEY = default_config.private_datasets_index_key
