"""A store in an S3 bucket, on aiobotocore: the backend, its client, multipart uploads.

``_backend.py`` turns the protocol into S3 requests, ``_client.py`` makes the
client and translates its errors, ``_multipart.py`` streams big objects up and
``_redact.py`` keeps credentials out of botocore's logs. Importing this package
does not import aiobotocore; building an :class:`S3Backend` does.
"""

from hgloc.backends._s3._backend import S3Backend
from hgloc.backends._s3._multipart import PART_SIZE

__all__ = ["PART_SIZE", "S3Backend"]
