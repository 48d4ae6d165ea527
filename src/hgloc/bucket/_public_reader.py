"""Reading a team's public models with no credentials at all: plain HTTPS GETs.

The public manifest (``public_models.json``, ``public-read``) lists the models
whose card and config objects are ``public-read`` too. URLs are rebuilt from
each entry's ``s3_prefix`` (validated to lie in the model's own folder), not
taken from the manifest: HG-Localization wrote virtual-hosted URLs that do not
work for custom endpoints, and a manifest must not send us elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

from hgloc.backends._json_updates import parse_json_object
from hgloc.bucket._tier import BucketEntry, BucketTier, merge_entries
from hgloc.errors import (
    BackendUnavailableError,
    IndexCorruptError,
    ObjectNotFoundError,
    ResponseTooLargeError,
)
from hgloc.layout import CARD_FILE, CARD_REPO_PATH, CONFIG_FILE, FileRecord, ModelRecord
from hgloc.sources import _http, git_blob_sha1

__all__ = ["PublicReader"]

_MAX_BYTES = 64 << 20


class PublicReader:
    """Lists and reads the public models of a bucket through anonymous GETs."""

    def __init__(self, tier: BucketTier, *, timeout: float = 30.0) -> None:
        self.tier = tier
        self._client = _http.make_client(connections=16, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, key: str) -> bytes | None:
        url = self.tier.backend.public_url(key)
        try:
            response = await self._client.get(url, max_bytes=_MAX_BYTES)
        except _http.TransportError as exc:
            raise BackendUnavailableError(f"could not reach {url}: {exc}") from exc
        except ResponseTooLargeError as exc:  # decoded bytes counted: no gzip bomb
            raise BackendUnavailableError(str(exc)) from exc
        if response.status_code in (403, 404):  # private or absent: the same to us
            return None
        if response.status_code >= 400:
            raise BackendUnavailableError(f"GET {url} answered HTTP {response.status_code}")
        if len(response.content) > _MAX_BYTES:
            raise BackendUnavailableError(f"{url} is larger than {_MAX_BYTES} bytes")
        return response.content

    async def read_json(self, key: str) -> dict[str, Any] | None:
        """A public JSON object of the bucket (e.g. the public collections), ``None`` if absent."""
        raw = await self._get(key)
        return None if raw is None else parse_json_object(self.tier.backend.location(key), raw)

    async def entries(self) -> list[BucketEntry]:
        """The public models, from the manifest."""
        key = self.tier.config.public_models_json_key
        raw = await self._get(key)
        if raw is None:
            return []
        try:
            manifest: Any = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise IndexCorruptError(
                f"{self.tier.backend.location(key)} is not valid JSON ({exc}); repair it"
            ) from exc
        if not isinstance(manifest, dict):
            raise IndexCorruptError(f"{self.tier.backend.location(key)} is not a JSON object")
        return merge_entries(self.tier, {}, manifest)

    async def fetch(
        self, model_id: str, revision: str | None
    ) -> tuple[ModelRecord, dict[str, bytes]] | None:
        """A public model's card and config, or ``None`` if the manifest lacks it."""
        entry = next(
            (e for e in await self.entries() if (e.model_id, e.revision) == (model_id, revision)),
            None,
        )
        if entry is None:
            return None
        folder = self.tier.folder(model_id, revision)
        files: dict[str, bytes] = {}
        for name, wanted in ((CARD_FILE, entry.has_card), (CONFIG_FILE, entry.has_config)):
            data = await self._get(f"{folder}/{name}") if wanted else None
            if data is not None:
                files[name] = data
        if not files:
            raise ObjectNotFoundError(
                f"the public manifest lists {model_id!r} but its files are not readable"
            )
        record = ModelRecord(
            model_id=model_id,
            revision=revision,
            commit=None,
            files={
                name: FileRecord(
                    CARD_REPO_PATH if name == CARD_FILE else name, len(data), git_blob_sha1(data)
                )
                for name, data in files.items()
            },
            is_public=True,
            s3_bucket_name=self.tier.config.s3_bucket_name,
            s3_endpoint_url=self.tier.config.s3_endpoint_url,
            s3_data_prefix=self.tier.config.s3_data_prefix,
        )
        return record, files
