"""What is asked of the localizer for one model: a ref and a frozen set of options."""

from __future__ import annotations

import attrs

from hgloc.errors import InvalidModelIdError
from hgloc.layout import validate_model_id, validate_revision
from hgloc.transfer import ByteProgress, Patterns

__all__ = ["ModelRef", "ModelRequest", "parse_model_ref"]


@attrs.frozen
class ModelRef:
    """A model id and the revision wanted (``None``: the default branch)."""

    model_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.model_id if self.revision is None else f"{self.model_id}@{self.revision}"


def parse_model_ref(text: str, revision: str | None = None) -> ModelRef:
    """Parse ``org/name`` or ``org/name@revision``, validating both parts.

    >>> parse_model_ref("gpt2@v1.0")
    ModelRef(model_id='gpt2', revision='v1.0')
    """
    model_id, sep, rev = text.partition("@")
    if sep and not rev:
        raise InvalidModelIdError(f"{text!r} has an '@' but no revision after it")
    return ModelRef(validate_model_id(model_id), validate_revision(rev if sep else revision))


def _patterns(value: Patterns) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _model_id(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    validate_model_id(value)


def _revision(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    validate_revision(value)


@attrs.frozen(kw_only=True)
class ModelRequest:
    """One model to localize and how; the id and revision are validated on creation.

    - ``metadata_only``: the card and ``config.json`` only (``False``: every file of
      the repo, narrowed by ``allow_patterns`` / ``ignore_patterns``, huggingface_hub's globs).
    - ``refresh``: ask the Hub whether the revision moved; refetch only if it did.
    - ``skip_hf_fetch``: never ask the Hub (as ``HF_HUB_OFFLINE``).
    - ``upload``: put what came from the Hub in the team bucket, when there is one.
    - ``make_public``: also publish it in the bucket's public manifest.
    - ``on_bytes(path, done, total)``: byte progress of a full download.
    - ``with_parameters``: count a metadata-only model's weights from the Hub's
      safetensors headers when it is stored (a few requests more; off by default).

    >>> ModelRequest(model_id="openai-community/gpt2", metadata_only=False).full
    True
    """

    model_id: str = attrs.field(validator=_model_id)
    revision: str | None = attrs.field(default=None, validator=_revision)
    metadata_only: bool = True
    allow_patterns: tuple[str, ...] | None = attrs.field(default=None, converter=_patterns)
    ignore_patterns: tuple[str, ...] | None = attrs.field(default=None, converter=_patterns)
    refresh: bool = False
    skip_hf_fetch: bool = False
    upload: bool = True
    make_public: bool = False
    with_parameters: bool = False
    on_bytes: ByteProgress | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def ref(self) -> ModelRef:
        """The model and revision asked for."""
        return ModelRef(self.model_id, self.revision)

    @property
    def key(self) -> tuple[str, str | None]:
        """``(model_id, revision)``, as the bucket's index names a model."""
        return self.model_id, self.revision

    @property
    def full(self) -> bool:
        """Whether every (selected) file of the repo is wanted, not only card and config."""
        return not self.metadata_only

    def for_model(self, ref: ModelRef) -> ModelRequest:
        """The same options for another model (a bulk run's template)."""
        return attrs.evolve(self, model_id=ref.model_id, revision=ref.revision)
