"""Write a model store (and a bucket) exactly as HG-Localization writes them.

Test support, no pytest dependency. The rules are HG-Localization's at commit
``76267e6`` of ECNU3D/HG-Localization (see ``docs/hg-localization-reference.md``),
restated here in our own code:

- folder names: ``safe(id)/safe(revision or "default_revision")``, ``safe`` maps
  each of ``/ \\ : * ? " < > |`` and space to ``_``; with a bucket configured the
  folder sits under ``by_bucket/<bucket id>/``; ``make_public`` puts it under
  ``public/``;
- the metadata file carries no model id, revision or hashes;
- its listing shows the folder name with the *last* ``_`` turned into ``/``.

``write_store(root)`` writes the store and returns a :class:`WrittenStore`
describing every folder: the id HG-Localization shows for it, the true id,
whether it is full/public, the file list. ``hg_localization_listing`` computes
what HG-Localization's ``list_local_models`` returns for a store on disk.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

__all__ = [
    "BUCKET",
    "DEFAULT_REVISION_NAME",
    "ENDPOINT",
    "HG_LOCALIZATION_COMMIT",
    "METADATA_FILE",
    "WrittenFolder",
    "WrittenStore",
    "bucket_identifier",
    "hg_localization_listing",
    "metadata_bytes",
    "safe_component",
    "shown_model_id",
    "write_bucket",
    "write_store",
]

HG_LOCALIZATION_COMMIT = "76267e6f076417368e0a4832a15c73532ea3666a"
METADATA_FILE = ".hg_localization_bucket_metadata.json"
DEFAULT_REVISION_NAME = "default_revision"
BUCKET = "team-models"
ENDPOINT = "http://127.0.0.1:9000"
DATA_PREFIX = "team"
# HG-Localization stores str(st_mtime) of its own model_manager.py, not the time of the download.
TIMESTAMP = "1749455312.8071036"
CARD_FILE = "model_card.md"
CONFIG_FILE = "config.json"
TOKENIZER_MARKERS = ("tokenizer.json", "tokenizer_config.json")

_UNSAFE = '/\\:*?"<>| '


def safe_component(name: str | None) -> str:
    """HG-Localization's folder name for an id or revision (empty for ``None``/``""``)."""
    if not name:
        return ""
    return "".join("_" if c in _UNSAFE else c for c in name)


def shown_model_id(folder_name: str) -> str:
    """The id HG-Localization's listing shows for a folder: its last ``_`` becomes ``/``.

    >>> shown_model_id("microsoft_DialoGPT-medium"), shown_model_id("gpt2")
    ('microsoft/DialoGPT-medium', 'gpt2')
    >>> shown_model_id("a_b_c")
    'a_b/c'
    """
    head, sep, tail = folder_name.rpartition("_")
    return f"{head}/{tail}" if sep else folder_name


def bucket_identifier(bucket: str, endpoint_url: str | None) -> str:
    """The ``by_bucket/<it>`` folder: safe bucket name, plus md5(endpoint)[:8] with an endpoint."""
    safe = safe_component(bucket)
    if not endpoint_url:
        return safe
    digest = hashlib.md5(endpoint_url.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{safe}_{digest}"


def metadata_bytes(
    *,
    bucket: str | None,
    endpoint_url: str | None,
    data_prefix: str,
    is_public: bool,
    timestamp: str = TIMESTAMP,
) -> bytes:
    """The metadata file as HG-Localization writes it: ``json.dump(..., indent=2)``, no newline."""
    data = {
        "s3_bucket_name": bucket,
        "s3_endpoint_url": endpoint_url,
        "s3_data_prefix": data_prefix,  # "" when unset, never null
        "cached_timestamp": timestamp,
        "is_public": is_public,
        "type": "model",
    }
    return json.dumps(data, indent=2).encode()


def _card(model_id: str) -> bytes:
    # ModelCard.load(...).text: the README without its YAML front matter.
    return f"# {model_id}\n\nA tiny test model (caf\u00e9).\n".encode()


def _hub_config(model_type: str) -> dict[str, Any]:
    return {"architectures": ["FakeForCausalLM"], "model_type": model_type, "hidden_size": 8}


def _metadata_only_files(model_id: str, model_type: str) -> dict[str, bytes]:
    # The config is re-serialised: json.dump(config, indent=2), ASCII, no trailing newline,
    # so its bytes differ from the Hub's config.json.
    return {
        CARD_FILE: _card(model_id),
        CONFIG_FILE: json.dumps(_hub_config(model_type), indent=2).encode(),
    }


def _safetensors(tensors: Mapping[str, int]) -> bytes:
    """A valid safetensors file of float32 vectors (name -> length), all zeros."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, length in tensors.items():
        end = offset + 4 * length
        header[name] = {"dtype": "F32", "shape": [length], "data_offsets": [offset, end]}
        offset += 4 * length
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def _full_model_files(model_id: str, model_type: str) -> dict[str, bytes]:
    """What transformers 4.x ``save_pretrained`` of AutoConfig/AutoTokenizer/AutoModel writes."""
    config = {
        "_name_or_path": model_id,
        "architectures": ["FakeModel"],  # AutoModel: the base class, not the Hub's
        "hidden_size": 8,
        "model_type": model_type,
        "torch_dtype": "float32",
        "transformers_version": "4.52.4",
    }
    vocab = {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3}
    special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    return {
        CARD_FILE: _card(model_id),
        CONFIG_FILE: (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(),
        "model.safetensors": _safetensors({"wte.weight": 8, "ln_f.weight": 8}),
        "tokenizer_config.json": json.dumps({**special, "model_max_length": 16}, indent=2).encode(),
        "special_tokens_map.json": json.dumps(special, indent=2).encode(),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}).encode(),
        "vocab.json": json.dumps(vocab).encode(),
        "merges.txt": b"#version: 0.2\na b\n",
    }


@attrs.frozen
class WrittenFolder:
    """One model folder of the fixture, and what HG-Localization shows for it."""

    relpath: str  # posix, relative to the store root
    true_model_id: str
    true_revision: str | None
    is_full_model: bool
    is_public: bool  # under public/ (HG-Localization's listing takes it from the location)
    bucket_folder: str | None  # <bucket id> of by_bucket/<bucket id>/, None at the root
    files: tuple[str, ...]  # every file written, sorted, the metadata file included
    has_metadata_file: bool = True

    @property
    def folder_name(self) -> str:
        return self.relpath.split("/")[-2]

    @property
    def shown_model_id(self) -> str:
        """The id HG-Localization's ``list_local_models`` shows."""
        return shown_model_id(self.folder_name)

    @property
    def shown_revision(self) -> str | None:
        """The revision HG-Localization shows: the folder name, ``None`` for the default."""
        name = self.relpath.split("/")[-1]
        return None if name == DEFAULT_REVISION_NAME else name

    @property
    def ambiguous(self) -> bool:
        """Two or more ``_``: the folder could hold several ids (``a_b/c``, ``a/b_c``)."""
        return self.folder_name.count("_") >= 2

    @property
    def has_card(self) -> bool:
        return CARD_FILE in self.files

    @property
    def has_config(self) -> bool:
        return CONFIG_FILE in self.files

    @property
    def has_tokenizer(self) -> bool:
        return any(name in self.files for name in TOKENIZER_MARKERS)

    @property
    def listed(self) -> bool:
        """HG-Localization lists a folder only if it holds the card or the config."""
        return self.has_card or self.has_config


@attrs.frozen
class WrittenStore:
    """What :func:`write_store` wrote."""

    root: Path
    bucket: str
    endpoint_url: str
    data_prefix: str
    folders: tuple[WrittenFolder, ...]

    @property
    def bucket_folder(self) -> str:
        return bucket_identifier(self.bucket, self.endpoint_url)

    def folder(self, relpath: str) -> WrittenFolder:
        return next(f for f in self.folders if f.relpath == relpath)

    @property
    def ambiguous(self) -> list[WrittenFolder]:
        return [f for f in self.folders if f.ambiguous]


_PLAIN: dict[str, Any] = {"bucket": None, "endpoint_url": None, "data_prefix": ""}


@attrs.frozen
class _Plan:
    relpath: str
    model_id: str
    revision: str | None = None
    full: bool = False
    public: bool = False
    bucket_folder: str | None = None
    meta: dict[str, Any] | None = _PLAIN  # the metadata file's settings; None: no file
    empty: bool = False  # no card, no config


def _write(root: Path, relpath: str, files: Mapping[str, bytes]) -> None:
    folder = root / relpath
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def write_store(
    root: Path,
    *,
    bucket: str = BUCKET,
    endpoint_url: str = ENDPOINT,
    data_prefix: str = DATA_PREFIX,
) -> WrittenStore:
    """Write an HG-Localization store under ``root`` (its ``models_store_path``).

    Covers: metadata-only and full models; the no-bucket shape, the
    ``by_bucket/<bucket id>/`` shape (this bucket and another one), the
    ``public/`` shapes (a ``make_public`` download with and without a bucket,
    and a card/config copy cached by ``get_cached_model_*`` with no metadata
    file); one ambiguous folder; one folder HG-Localization leaves behind when
    the Hub was unreachable or the repo missing (metadata file only, not listed).
    """
    bid = bucket_identifier(bucket, endpoint_url)
    mine = {"bucket": bucket, "endpoint_url": endpoint_url, "data_prefix": data_prefix}
    other = {"bucket": "other-bucket", "endpoint_url": None, "data_prefix": ""}
    plan = [
        # No bucket configured: <root>/<safe id>/<safe rev>/
        _Plan("gpt2/default_revision", "gpt2"),
        _Plan("microsoft_DialoGPT-medium/default_revision", "microsoft/DialoGPT-medium"),
        _Plan("openai-community_gpt2/main", "openai-community/gpt2", "main", full=True),
        # Ambiguous: HG-Localization shows 'team-org_model/v2'.
        _Plan("team-org_model_v2/default_revision", "team-org/model_v2"),
        # Hub unreachable or repo missing: (True, path) with the metadata file alone.
        _Plan("ghost-org_missing/default_revision", "ghost-org/missing", empty=True),
        # A bucket configured: <root>/by_bucket/<bucket id>/...
        _Plan(
            f"by_bucket/{bid}/google-bert_bert-base-uncased/v1.0",
            "google-bert/bert-base-uncased",
            "v1.0",
            bucket_folder=bid,
            meta=mine,
        ),
        _Plan(
            f"by_bucket/{bid}/EleutherAI_pythia-14m/default_revision",
            "EleutherAI/pythia-14m",
            full=True,
            bucket_folder=bid,
            meta=mine,
        ),
        _Plan(
            "by_bucket/other-bucket/distilbert_distilgpt2/default_revision",
            "distilbert/distilgpt2",
            bucket_folder="other-bucket",
            meta=other,
        ),
        # make_public: <root>/public/... in both shapes.
        _Plan(
            "public/HuggingFaceTB_SmolLM2-135M/default_revision",
            "HuggingFaceTB/SmolLM2-135M",
            full=True,
            public=True,
        ),
        _Plan(
            f"public/by_bucket/{bid}/Qwen_Qwen2.5-0.5B/default_revision",
            "Qwen/Qwen2.5-0.5B",
            public=True,
            bucket_folder=bid,
            meta=mine,
        ),
        # get_cached_model_card_content/_config_content cache under public/, no metadata file.
        _Plan(
            f"public/by_bucket/{bid}/BAAI_bge-small-en-v1.5/default_revision",
            "BAAI/bge-small-en-v1.5",
            public=True,
            bucket_folder=bid,
            meta=None,
        ),
    ]
    folders = []
    for item in plan:
        if item.empty:
            files: dict[str, bytes] = {}
        elif item.full:
            files = _full_model_files(item.model_id, "fake")
        else:
            files = _metadata_only_files(item.model_id, "fake")
        if item.meta is not None:
            files[METADATA_FILE] = metadata_bytes(is_public=item.public, **item.meta)
        _write(root, item.relpath, files)
        folders.append(
            WrittenFolder(
                relpath=item.relpath,
                true_model_id=item.model_id,
                true_revision=item.revision,
                is_full_model=item.full,
                is_public=item.public,
                bucket_folder=item.bucket_folder,
                files=tuple(sorted(files)),
                has_metadata_file=item.meta is not None,
            )
        )
    return WrittenStore(root, bucket, endpoint_url, data_prefix, tuple(folders))


def _scan(base: Path, is_public: bool, default_revision_name: str) -> list[dict[str, Any]]:
    """HG-Localization's per-root scan: <base>/<safe id>/<rev>/ holding a card or config."""
    found = []
    for id_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        if id_dir.name.startswith(".") or id_dir.name == "by_bucket":
            continue
        for rev_dir in sorted(p for p in id_dir.iterdir() if p.is_dir()):
            has_card = (rev_dir / CARD_FILE).is_file()
            has_config = (rev_dir / CONFIG_FILE).is_file()
            if not (has_card or has_config):
                continue
            weights = any(rev_dir.glob("*.bin")) or any(rev_dir.glob("*.safetensors"))
            found.append(
                {
                    "model_id": shown_model_id(id_dir.name),
                    "revision": None if rev_dir.name == default_revision_name else rev_dir.name,
                    "path": str(rev_dir),
                    "has_card": has_card,
                    "has_config": has_config,
                    "has_tokenizer": any((rev_dir / n).exists() for n in TOKENIZER_MARKERS),
                    "is_full_model": has_config and weights,
                    "is_public": is_public,
                }
            )
    return found


def hg_localization_listing(
    root: Path,
    *,
    bucket_configured: bool,
    public_access_only: bool = False,
    default_revision_name: str = DEFAULT_REVISION_NAME,
) -> list[dict[str, Any]]:
    """What HG-Localization's ``list_local_models`` returns for the store at ``root``.

    ``public/`` is scanned first, then (unless ``public_access_only``) the root.
    In each, with a bucket configured, every ``by_bucket/*`` folder is scanned
    (whatever bucket it belongs to), then the root shape always. A second
    entry with the same (model_id, revision) replaces the first when it comes
    from ``public/`` and is dropped otherwise. Directory order here is sorted;
    HG-Localization's follows ``iterdir``.
    """
    stores = [(root / "public", True)]
    if not public_access_only:
        stores.append((root, False))
    out: list[dict[str, Any]] = []
    for base, is_public in stores:
        if not base.is_dir():
            continue
        bases = []
        if bucket_configured and (base / "by_bucket").is_dir():
            bases += sorted(
                p for p in (base / "by_bucket").iterdir() if p.is_dir() and p.name[0] != "."
            )
        bases.append(base)
        for scan_base in bases:
            for model in _scan(scan_base, is_public, default_revision_name):
                key = (model["model_id"], model["revision"])
                same = (i for i, m in enumerate(out) if (m["model_id"], m["revision"]) == key)
                at = next(same, None)
                if at is None:
                    out.append(model)
                elif is_public:
                    out[at] = model
    return out


class Writable(Protocol):
    async def write(self, key: str, data: bytes) -> None: ...


def _public_url(bucket: str, key: str, endpoint_url: str | None) -> str:
    # HG-Localization always builds virtual-hosted URLs, even for http://host:port endpoints.
    if not endpoint_url:
        return f"https://{bucket}.s3.amazonaws.com/{key}"
    scheme = "http://" if endpoint_url.startswith("http://") else "https://"
    host = endpoint_url.replace("https://", "").replace("http://", "").rstrip("/")
    return f"{scheme}{bucket}.{host}/{key}"


async def write_bucket(backend: Writable, store: WrittenStore) -> dict[str, str]:
    """Upload ``store``'s folders of its bucket as HG-Localization does; returns key -> model.

    Keys are relative to the data prefix (hgloc's backends apply it); values
    inside the indexes (``s3_prefix``, URLs) carry it, as HG-Localization's do.
    Every file of the folder is uploaded, the metadata file included. Public
    folders get a ``public_models.json`` entry, the others a
    ``private_models_index.json`` entry.
    """
    private: dict[str, Any] = {}
    public: dict[str, Any] = {}
    written: dict[str, str] = {}
    for folder in store.folders:
        if folder.bucket_folder != store.bucket_folder or not folder.has_metadata_file:
            continue
        rel = "models/" + "/".join(folder.relpath.split("/")[-2:])
        s3_prefix = f"{store.data_prefix}/{rel}" if store.data_prefix else rel
        for name in folder.files:
            await backend.write(f"{rel}/{name}", (store.root / folder.relpath / name).read_bytes())
            written[f"{rel}/{name}"] = folder.true_model_id
        key = f"{folder.true_model_id}---{folder.true_revision or DEFAULT_REVISION_NAME}"
        if folder.is_public:
            card_url = _public_url(store.bucket, f"{s3_prefix}/{CARD_FILE}", store.endpoint_url)
            config_url = _public_url(store.bucket, f"{s3_prefix}/{CONFIG_FILE}", store.endpoint_url)
            public[key] = {
                "model_id": folder.true_model_id,
                "revision": folder.true_revision,
                "s3_bucket": store.bucket,
                "model_card_url": card_url if folder.has_card else None,
                "model_config_url": config_url if folder.has_config else None,
                "s3_prefix": s3_prefix,
            }
        else:
            private[key] = {
                "model_id": folder.true_model_id,
                "revision": folder.true_revision,
                "s3_prefix": s3_prefix,
                "s3_bucket": store.bucket,
                "has_card": folder.has_card,
                "has_config": folder.has_config,
                "has_tokenizer": folder.has_tokenizer,
                "is_full_model": "model.safetensors" in folder.files,
                "last_updated": TIMESTAMP,
            }
    await backend.write("private_models_index.json", json.dumps(private, indent=2).encode())
    await backend.write("public_models.json", json.dumps(public, indent=2).encode())
    return written
