"""Which token goes to the Hub: huggingface_hub's rules, seen from the emulator's request log.

``HF_TOKEN`` and the ``hf auth login`` file are the *implicit* token: sent by
default, never when ``HF_HUB_DISABLE_IMPLICIT_TOKEN`` is set. A token given to
hgloc (``Config(hf_token=...)``) is explicit and always sent, to the Hub host only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

import hgloc
from hgloc import Config, Localizer
from hgloc.errors import RepositoryNotFoundError
from hgloc_testing import Grant, HubEmulator, Repo

pytestmark = pytest.mark.anyio

TOKEN = "hf_implicitTokenTest0123456789"
PUBLIC, PRIVATE = "hgloc-test/public", "hgloc-test/private"
FILES = {"README.md": b"# card\n", "config.json": b'{"model_type": "bert"}'}


@pytest.fixture(scope="module")
def module_hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator(
        [Repo(PUBLIC, [FILES]), Repo(PRIVATE, [FILES], private=True)],
        tokens={TOKEN: Grant(repos={PRIVATE})},
    )
    with emulator.run_in_thread():
        yield emulator


@pytest.fixture
def hub(module_hub: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> HubEmulator:
    module_hub.reset_requests()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return module_hub


@pytest.fixture
def implicit_token_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub reads the variable once, at import: set both, as a process
    # started with HF_HUB_DISABLE_IMPLICIT_TOKEN=1 would have them.
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)


def config(hub: HubEmulator, root: Path, **kw: object) -> Config:
    return Config(models_store_path=root, hf_endpoint=hub.url, offline=False, **kw)  # type: ignore[arg-type]


@pytest.mark.usefixtures("implicit_token_disabled")
async def test_hf_token_is_not_sent_when_implicit_tokens_are_disabled(
    hub: HubEmulator, tmp_path: Path
) -> None:
    ok, _ = await hgloc.download_model_metadata(PUBLIC, config=config(hub, tmp_path / "a"))
    assert ok
    async with Localizer(config(hub, tmp_path / "b")) as loc:
        assert (await loc.download(PUBLIC, metadata_only=False)).ok  # model info, tree, files
        with pytest.raises(RepositoryNotFoundError):
            await loc.hub_config(PRIVATE)  # the token that could read it stays home
    assert len(hub.requests) > 4
    assert [r.path for r in hub.requests if r.has_auth] == []


@pytest.mark.usefixtures("implicit_token_disabled")
async def test_a_token_given_to_hgloc_is_explicit_and_still_sent(
    hub: HubEmulator, tmp_path: Path
) -> None:
    async with Localizer(config(hub, tmp_path, hf_token=TOKEN)) as loc:
        assert (await loc.download(PRIVATE)).ok
    on_hub = [r for r in hub.requests if not r.is_cdn]
    assert on_hub and all(r.authorization == f"Bearer {TOKEN}" for r in on_hub)


async def test_hf_token_is_sent_by_default(hub: HubEmulator, tmp_path: Path) -> None:
    assert not huggingface_hub.constants.HF_HUB_DISABLE_IMPLICIT_TOKEN
    ok, _ = await hgloc.download_model_metadata(PRIVATE, config=config(hub, tmp_path))
    assert ok
    assert hub.requests and all(r.authorization == f"Bearer {TOKEN}" for r in hub.requests)
