"""A realistic, deterministic corpus of model repos for the Hub emulator.

Configs are real ``transformers`` defaults saved once under ``data/configs`` (no
``transformers`` import at runtime). Cards carry YAML front matter and unicode
(CJK, emoji, right-to-left scripts). Bytes are built once and shared between
repos, so thousands of repos build in milliseconds.
"""

# Mixed scripts (CJK, Arabic, Hebrew, Cyrillic) are the point of the corpus text.
# ruff: noqa: RUF001

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import json
import random
import struct

from ._repos import Repo

__all__ = [
    "SPECIAL_TOKEN",
    "make_corpus",
    "special_renames",
    "special_repos",
    "special_tokens",
]

# Below this size make_corpus() holds generated repos only.
_SPECIALS_FROM = 20
SPECIAL_TOKEN = "hf_hgloc_emulator_granted"
"""A token granted the gated and private special repos (see :func:`special_tokens`)."""

_ORGS = (
    "acme-ai", "nlp-lab", "openvision", "tiny-models", "tohoku-nlp", "aubmind", "helsinki-mt",
    "kaist-ai", "sberlab", "bigsci-lite", "qwen-lab", "mila-nlp", "ufal", "deepset-lite",
    "cardiff-nlp", "dbmdz-lite",
)  # fmt: skip
_VARIANTS = (
    "base", "small", "large", "tiny", "mini", "uncased", "cased", "instruct", "chat", "v2",
    "finetuned-sst2", "squad", "ner", "multilingual", "distilled", "int8",
)  # fmt: skip
_LICENSES = (
    "apache-2.0", "mit", "cc-by-4.0", "cc-by-nc-sa-4.0", "openrail", "bsd-3-clause", "llama3",
    "other", "gpl-3.0",
)  # fmt: skip
_LANGUAGES = ("en", "zh", "ja", "ko", "ar", "he", "fa", "ru", "de", "fr", "es", "hi", "sw", "ur")
_TAGS = (
    "pytorch", "safetensors", "text-classification", "sentiment", "ner", "chat", "code",
    "distillation", "quantized", "medical", "legal", "arxiv:1810.04805", "arxiv:2307.09288",
    "endpoints_compatible", "autotrain", "merge", "lora",
)  # fmt: skip
_PIPELINES = {
    "bert": "fill-mask", "roberta": "fill-mask", "xlm_roberta": "fill-mask",
    "distilbert": "fill-mask", "albert": "fill-mask", "electra": "fill-mask",
    "deberta_v2": "fill-mask", "mpnet": "sentence-similarity", "vit": "image-classification",
    "swin": "image-classification", "convnext": "image-classification",
    "whisper": "automatic-speech-recognition", "wav2vec2": "automatic-speech-recognition",
    "clip": "zero-shot-image-classification", "t5": "text2text-generation",
    "bart": "summarization",
}  # fmt: skip
_PARAGRAPHS = (
    "This model was fine-tuned on a mixture of public datasets. It is intended for research "
    "and should not be used to make decisions about people.",
    "这是一个在大规模中文语料上预训练的模型，可用于文本分类、命名实体识别和问答等任务。",
    "このモデルは日本語ウィキペディアと青空文庫で事前学習されています。商用利用の際はライセンスを確認してください。",
    "이 모델은 한국어 뉴스 말뭉치로 학습되었습니다. 🇰🇷",
    "هذا النموذج مدرب على مجموعة كبيرة من النصوص العربية الفصحى واللهجات المحلية.",
    "המודל אומן על קורפוס גדול של טקסט בעברית, כולל ויקיפדיה וחדשות.",
    "این مدل برای طبقه‌بندی متون فارسی آموزش دیده است.",
    "🤗 Ready for Transformers! 🚀🔥 Tested with 🐍 Python 3.11 on 👩‍💻 laptops and 🖥️ servers.",
    "Mixed direction: the word \u201cسلام\u201d means peace, and \u201cשלום\u201d too; "
    "cafe\u0301 vs caf\u00e9 differ in bytes.",
    "Evaluation uses accuracy, F1 and exact match. Results may vary across seeds (±0.3).",
    "Limitations: the model reflects biases of its training data. Сделано с ❤️ в Москве.",
)
_CODE = (
    "```python\nfrom transformers import AutoModel, AutoTokenizer\n\n"
    'tok = AutoTokenizer.from_pretrained("{repo_id}")\n'
    'model = AutoModel.from_pretrained("{repo_id}")\n```\n'
)
_TRAINING = (
    "## Training procedure\n\n"
    "The following hyperparameters were used during training:\n\n"
    "- learning_rate: {lr}\n- train_batch_size: {bs}\n- eval_batch_size: {bs}\n"
    "- seed: 42\n- optimizer: Adam with betas=(0.9,0.999) and epsilon=1e-08\n"
    "- lr_scheduler_type: linear\n- num_epochs: {ep}\n\n"
    "### Framework versions\n\n- Transformers 4.44.2\n- Pytorch 2.4.0\n- Tokenizers 0.19.1\n\n"
)
_TABLE = "| metric | value |\n|---|---|\n| accuracy | 0.9{a} |\n| f1 | 0.8{b} |\n"
_GITATTRIBUTES = b"".join(
    b"%s filter=lfs diff=lfs merge=lfs -text\n" % pattern
    for pattern in (
        b"*.7z", b"*.bin", b"*.ckpt", b"*.gguf", b"*.h5", b"*.msgpack", b"*.onnx", b"*.ot",
        b"*.pt", b"*.pth", b"*.safetensors", b"*.tar.gz", b"*.tflite", b"*.zip", b"*tfevents*",
    )
)  # fmt: skip
_TOKENIZER_CONFIG = json.dumps(
    {
        "clean_up_tokenization_spaces": True,
        "do_lower_case": True,
        "model_max_length": 512,
        "tokenizer_class": "BertTokenizer",
        "unk_token": "[UNK]",
    },
    indent=2,
).encode()
_GENERATION_CONFIG = json.dumps(
    {
        "_from_model_config": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "transformers_version": "4.44.2",
    },
    indent=2,
).encode()
_CREATED = dt.datetime(2022, 3, 2, 23, 29, 4, tzinfo=dt.UTC)


@functools.cache
def _configs() -> dict[str, bytes]:
    """Real default configs by model type (files starting with ``_`` are specials)."""
    folder = importlib.resources.files(__package__).joinpath("data", "configs")
    return {
        entry.name.removesuffix(".json"): entry.read_bytes()
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }


@functools.cache
def _safetensors(n_floats: int) -> bytes:
    """A valid safetensors file with one float32 tensor (deterministic content)."""
    header = json.dumps(
        {
            "__metadata__": {"format": "pt"},
            "weight": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]},
        },
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)
    values = struct.pack(f"<{n_floats}f", *(((i * 7919) % 1000) / 1000.0 for i in range(n_floats)))
    return struct.pack("<Q", len(header)) + header + values


def _front_matter(
    *,
    license: str,
    languages: list[str],
    tags: list[str],
    pipeline: str | None,
    library: str | None,
    extra: str = "",
) -> str:
    lines = ["---", f"license: {license}"]
    if languages:
        lines += ["language:", *(f"- {lang}" for lang in languages)]
    if tags:
        lines.append(f"tags: [{', '.join(tags)}]")
    if pipeline:
        lines.append(f"pipeline_tag: {pipeline}")
    if library:
        lines.append(f"library_name: {library}")
    if extra:
        lines.append(extra)
    lines.append("---")
    return "\n".join(lines) + "\n"


def _card(rng: random.Random, repo_id: str, model_type: str) -> bytes:
    head = _front_matter(
        license=rng.choice(_LICENSES),
        languages=rng.sample(_LANGUAGES, rng.randint(0, 4)),
        tags=rng.sample(_TAGS, rng.randint(0, 5)),
        pipeline=_PIPELINES.get(model_type, "text-generation"),
        library="transformers",
        extra="datasets:\n- wikipedia\n- bookcorpus" if rng.random() < 0.3 else "",
    )
    parts = [head, f"\n# {repo_id.rpartition('/')[2]}\n\n"]
    parts += [p + "\n\n" for p in rng.sample(_PARAGRAPHS, rng.randint(1, 6))]
    if rng.random() < 0.5:
        parts.append(
            _TRAINING.format(
                lr=rng.choice(("1e-5", "2e-5", "5e-5", "3e-4")),
                bs=rng.choice((8, 16, 32, 64)),
                ep=rng.randint(1, 10),
            )
        )
        parts += [p + "\n\n" for p in rng.choices(_PARAGRAPHS, k=rng.randint(0, 6))]
    if rng.random() < 0.6:
        parts.append("## Usage\n\n" + _CODE.format(repo_id=repo_id))
    if rng.random() < 0.4:
        parts.append("\n## Results\n\n" + _TABLE.format(a=rng.randint(0, 9), b=rng.randint(0, 9)))
    text = "".join(parts)
    if rng.random() < 0.05:  # some cards were written on Windows
        text = text.replace("\n", "\r\n")
    return text.encode()


def _generated(rng: random.Random, index: int) -> Repo:
    configs = _configs()
    model_type = rng.choice([k for k in configs if not k.startswith("_")])
    name = f"{model_type.replace('_', '-')}-{rng.choice(_VARIANTS)}-{index:04d}"
    repo_id = name if rng.random() < 0.2 else f"{rng.choice(_ORGS)}/{name}"
    files: dict[str, bytes] = {".gitattributes": _GITATTRIBUTES}
    roll = rng.random()
    if roll >= 0.04:  # a few repos have no card, a few no config
        files["README.md"] = _card(rng, repo_id, model_type)
    if roll < 0.04 or roll >= 0.08:
        files["config.json"] = configs[model_type]
    if rng.random() < 0.4:
        files["tokenizer_config.json"] = _TOKENIZER_CONFIG
    if rng.random() < 0.25:
        files["generation_config.json"] = _GENERATION_CONFIG
    if rng.random() < 0.25:
        files["model.safetensors"] = _safetensors(rng.choice((256, 2048, 16384)))
    return Repo(
        repo_id,
        [files],
        downloads=int(rng.paretovariate(1.2) * 10) - 10,
        likes=int(rng.paretovariate(1.5)) - 1,
        created_at=_CREATED + dt.timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, 86399)),
    )


@functools.cache
def _huge_card() -> bytes:
    head = _front_matter(
        license="apache-2.0",
        languages=list(_LANGUAGES),
        tags=list(_TAGS),
        pipeline="text-generation",
        library="transformers",
    )
    parts = [head, "\n# A very long model card\n\n"]
    size, section = len(head), 0
    while size < 400_000:
        section += 1
        chunk = f"## Section {section}\n\n" + "\n\n".join(_PARAGRAPHS) + "\n\n"
        parts.append(chunk)
        size += len(chunk.encode())
    return "".join(parts).encode()


def _simple_card(title: str, **front: str) -> bytes:
    fields = {"license": "mit", "library_name": "transformers", **front}
    head = "---\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "---\n"
    return f"{head}\n# {title}\n\n{_PARAGRAPHS[0]}\n\n{_PARAGRAPHS[7]}\n".encode()


def special_repos() -> dict[str, Repo]:
    """Edge-case repos by name; fresh objects on each call (repos are mutable).

    ``huge-card`` (~400 KB README), ``config-nan`` (bare ``NaN`` token, as transformers
    4.x wrote it), ``config-nan-tagged`` (``{"__float__": "NaN"}``, as transformers 5.x
    writes it), ``card-only``, ``config-only``, ``empty`` (neither), ``gated``
    (manual approval, card public), ``private``, ``unicode-card``, ``lfs`` (a
    safetensors file served via the CDN), ``revisions`` (3 commits; branches ``main``,
    ``dev``, ``refs/pr/1``; tag ``v1.0``), ``many-files`` (150 files in folders, for
    tree pagination), ``legacy`` (an id without namespace), ``renamed`` (target of
    :func:`special_renames`).
    """
    cfg = _configs()
    ga = {".gitattributes": _GITATTRIBUTES}

    def both(title: str, config: bytes) -> dict[str, bytes]:
        return {**ga, "README.md": _simple_card(title), "config.json": config}

    unicode_card = (
        _front_matter(
            license="cc-by-4.0",
            languages=["zh", "ja", "ar", "he", "fa"],
            tags=["multilingual"],
            pipeline="fill-mask",
            library="transformers",
        )
        + "\n# 多言語モデル 🌏 نموذج متعدد اللغات\n\n"
        + "\n\n".join(_PARAGRAPHS)
        + "\n"
    ).encode()
    many = {**ga, "README.md": _simple_card("many files"), "config.json": cfg["bert"]}
    for i in range(150):
        many[f"shards/part-{i // 50}/chunk-{i:03d}.json"] = b'{"chunk": %d}\n' % i
    revisions = [
        both("revisions v1", cfg["gpt2"]),
        both("revisions v2", cfg["gpt2"].replace(b'"n_layer": 12', b'"n_layer": 24')),
        both("revisions v3", cfg["gpt2"].replace(b'"n_layer": 12', b'"n_layer": 36')),
    ]
    repos = [
        Repo(
            "hgloc-test/huge-card", [{**ga, "README.md": _huge_card(), "config.json": cfg["llama"]}]
        ),
        Repo("hgloc-test/config-nan", [both("NaN config", cfg["_nan_distilbert"])]),
        Repo("hgloc-test/config-nan-tagged", [both("tagged NaN", cfg["_nan_tagged_distilbert"])]),
        Repo("hgloc-test/card-only", [{**ga, "README.md": _simple_card("card only")}]),
        Repo("hgloc-test/config-only", [{**ga, "config.json": cfg["t5"]}]),
        Repo("hgloc-test/empty", [dict(ga)]),
        Repo(
            "hgloc-test/gated",
            [{**both("gated", cfg["mistral"]), "model.safetensors": _safetensors(2048)}],
            gated="manual",
        ),
        Repo("hgloc-test/private", [both("private", cfg["qwen2"])], private=True),
        Repo(
            "hgloc-test/unicode-card",
            [{**ga, "README.md": unicode_card, "config.json": cfg["xlm_roberta"]}],
        ),
        Repo(
            "hgloc-test/lfs",
            [{**both("lfs", cfg["phi"]), "model.safetensors": _safetensors(16384)}],
        ),
        Repo(
            "hgloc-test/revisions",
            revisions,
            branches={"main": 2, "dev": 1, "refs/pr/1": 1},
            tags={"v1.0": 0},
        ),
        Repo("hgloc-test/many-files", [many]),
        Repo("hgloc-legacy", [both("legacy id", cfg["bert"])]),
        Repo("hgloc-test/tiny-gpt2", [both("renamed", cfg["gpt2"])]),
    ]
    names = (
        "huge-card", "config-nan", "config-nan-tagged", "card-only", "config-only", "empty",
        "gated", "private", "unicode-card", "lfs", "revisions", "many-files", "legacy", "renamed",
    )  # fmt: skip
    return dict(zip(names, repos, strict=True))


def special_renames() -> dict[str, str]:
    """Legacy ids of special repos: ``{"tiny-gpt2": "hgloc-test/tiny-gpt2"}``."""
    return {"tiny-gpt2": "hgloc-test/tiny-gpt2"}


def special_tokens() -> dict[str, frozenset[str]]:
    """``{SPECIAL_TOKEN: {gated and private special repo ids}}``, for ``tokens=``."""
    return {SPECIAL_TOKEN: frozenset({"hgloc-test/gated", "hgloc-test/private"})}


def make_corpus(n: int, seed: int = 0) -> list[Repo]:
    """``n`` repos, deterministic for ``seed``.

    From 20 repos on, the last ``len(special_repos())`` are the specials (same ids
    and content for every seed); the rest are generated: about 20% legacy ids
    without namespace, cards of a few hundred bytes to a few KB, real configs, some
    with tokenizer/generation configs and small safetensors weights.
    """
    rng = random.Random(seed)
    specials = list(special_repos().values()) if n >= _SPECIALS_FROM else []
    return [_generated(rng, i) for i in range(n - len(specials))] + specials
