"""Issue 15, done when: a 200-model prefetch where one model in ten meets a hostile answer.

The run completes; exactly the hostile models fail, each with a reason; the rest
are cached and verify. Each hostile kind is one entry of :data:`KINDS`: how to make
a model meet it, and the words its failure must give.

The emulator's knobs for a hostile ``Location``/``Link`` port and a bad
``X-Repo-Commit`` act on every answer, not one model's: those cases are tested
on their own in ``tests/test_hub_client_hostile.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from hgloc import Config, Localizer, Status, TransferSettings
from hgloc.backends import LocalBackend
from hgloc.layout import METADATA_FILE
from hgloc_testing import Faults, HubEmulator, Repo

from .helpers import FAST_RETRY, Figures

pytestmark = pytest.mark.anyio

MODELS = 200
WEIGHTS = "model.safetensors"


@attrs.frozen
class World:
    """What a kind may arm: the emulator (repos, faults), the store folder, the buggy plugin."""

    hub: HubEmulator
    faults: Faults
    root: Path
    bugs: set[str]


@attrs.frozen
class Kind:
    """One hostile answer: ``arm(world, model_id)`` sets it up; the failure names ``reason``."""

    name: str
    reason: str
    arm: Callable[[World, str], None]
    full: bool | None = None  # only with full models (True), metadata only (False), or both


def _repo(model_id: str, **extra: bytes) -> Repo:
    files = {
        "README.md": f"# {model_id}\n".encode(),
        "config.json": b'{"model_type": "bert"}',
        WEIGHTS: model_id.encode() * 400,  # ~6 KB: fetched in ranged parts
        **extra,
    }
    return Repo(model_id, [files])


def _exception(world: World, model_id: str) -> None:
    world.bugs.add(model_id.replace("/", "_"))  # the store plugin raises RuntimeError


def _absurd_size(world: World, model_id: str) -> None:
    world.faults.announced_sizes = {**world.faults.announced_sizes, f"{model_id}/{WEIGHTS}": 2**47}


def _dot_git(world: World, model_id: str) -> None:
    world.hub.app.add_repo(_repo(model_id, **{".git/hooks/post-checkout": b"#!/bin/sh\n"}))


def _garbled_config(world: World, model_id: str) -> None:
    world.hub.app.add_repo(_repo(model_id, **{"config.json": b'{"model_type": '}))


def _gzip_bomb(world: World, model_id: str) -> None:
    # 24 MiB of JSON, a few KB on the wire: refused as it is decompressed, past the config cap.
    world.hub.app.add_repo(_repo(model_id, **{"config.json": b"{" + b" " * (24 << 20) + b"}"}))
    world.faults.gzip_paths = world.faults.gzip_paths | {f"{model_id}/config.json"}


def _bad_metadata(world: World, model_id: str) -> None:
    folder = world.root / model_id.replace("/", "_") / "default_revision"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METADATA_FILE).write_bytes(b'{"model_id": "%s", "files": {' % model_id.encode())


KINDS: list[Kind] = [
    Kind("exception inside one model", "unexpected RuntimeError", _exception),
    Kind("absurd size (2**47)", "max_file_size", _absurd_size, full=True),
    Kind("repo file under .git/", ".git", _dot_git, full=True),
    Kind("garbled config.json", "not valid JSON", _garbled_config, full=False),
    Kind("garbled local metadata", "damaged", _bad_metadata),
    Kind("gzip bomb as config.json", "larger than 16 MiB", _gzip_bomb, full=False),
    # Reserved folder names: the id itself is the hostile part (see RESERVED below).
]
RESERVED = ["public", "by_bucket", "by/bucket", "Public", "BY_BUCKET"]
RESERVED_REASON = "keeps for itself"


class BuggyBackend(LocalBackend):
    """A store plugin with a bug in the folders named in ``bugs``."""

    def __init__(self, root: Path, bugs: set[str]) -> None:
        super().__init__(root)
        self.bugs = bugs

    async def write_many(self, items: Mapping[str, bytes]) -> None:
        self._check(items)
        await super().write_many(items)

    async def write(self, key: str, data: bytes) -> None:
        self._check([key])
        await super().write(key, data)

    def _check(self, keys: Any) -> None:
        if any(key.split("/")[0] in self.bugs for key in keys):
            raise RuntimeError("a bug in the store plugin")


@pytest.fixture
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator([_repo(f"bulk/model-{i:03d}") for i in range(MODELS)])
    with emulator.run_in_thread():
        yield emulator


@pytest.mark.parametrize("full", [False, True], ids=["metadata", "full-model"])
async def test_200_models_one_in_ten_hostile_exactly_those_fail(
    hub: HubEmulator, tmp_path: Path, full: bool, figures: Figures
) -> None:
    root = tmp_path / "store"
    world = World(hub, Faults(), root, set())
    kinds = [k for k in KINDS if k.full in (None, full)]
    ids = [f"bulk/model-{i:03d}" for i in range(MODELS)]
    expected: dict[str, str] = {}
    for n, i in enumerate(range(3, MODELS, 10)):
        slot = n % (len(kinds) + 1)
        if slot == len(kinds):  # a reserved name instead of this model
            ids[i] = RESERVED[(n // (len(kinds) + 1)) % len(RESERVED)]
            expected[ids[i]] = RESERVED_REASON
        else:
            kinds[slot].arm(world, ids[i])
            expected[ids[i]] = kinds[slot].reason
    hub.faults = world.faults
    assert len(expected) == MODELS // 10

    transfer = TransferSettings(in_memory_max=1 << 10, split_above=4 << 10, part_size=2 << 10)
    config = Config(models_store_path=root, hf_endpoint=hub.url, offline=False)
    backend = BuggyBackend(root, world.bugs)
    async with Localizer(
        config, backend=backend, retry=FAST_RETRY, transfer=transfer, concurrency=16
    ) as loc:
        report = await loc.prefetch(ids, metadata_only=not full)
        ok_ids = [i for i in ids if i not in expected]
        checked = await loc.verify(ok_ids)
        listed = {m.model_id for m in await loc.list_models()}

    failed = {r.model_id: r for r in report.failed}
    assert set(failed) == set(expected)
    for model_id, reason in expected.items():
        assert reason in (failed[model_id].error or ""), (model_id, failed[model_id].error)
    assert all(r.status is Status.FETCHED for r in report.results if r.model_id in ok_ids)
    assert checked.ok and len(checked.results) == len(ok_ids)
    assert listed == set(ok_ids)
    assert not list(root.rglob(".git"))
    figures.add(
        f"hostile bulk ({'full' if full else 'metadata'})",
        "models / hostile / failed / verified",
        f"{MODELS} / {len(expected)} / {len(failed)} / {len(checked.results)}",
    )
