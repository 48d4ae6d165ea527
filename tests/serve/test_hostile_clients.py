"""A hostile client of ``hgloc serve``, and a damaged store: clean answers, never a 500 or a stall.

Issue 15: a YAML alias bomb in a card, an id with a trailing newline, a
``Range`` with a non-ASCII digit, ``HEAD`` and ``GET`` of a truncated file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import httpx2
import pytest

from hgloc.backends import MemoryBackend
from hgloc.config import Config
from hgloc.layout import FileRecord, ModelRecord
from hgloc.localize import Localizer
from hgloc.serve import create_app
from hgloc_testing import git_blob_sha1

from .conftest import running


def alias_bomb() -> bytes:
    """A card whose YAML header expands to 9**9 strings through nested aliases."""
    lines = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return ("\n".join([*lines, "---", "# a bomb", ""])).encode()


GOOD_CARD = b"---\nlicense: mit\n---\n# fine\n"
CONFIG = b'{"model_type": "bert"}'


def _record(
    model_id: str, files: dict[str, tuple[str, bytes]], sizes: dict[str, int]
) -> ModelRecord:
    return ModelRecord(
        model_id=model_id,
        revision=None,
        commit="c" * 40,
        files={
            name: FileRecord(repo_path, sizes.get(name, len(data)), git_blob_sha1(data))
            for name, (repo_path, data) in files.items()
        },
    )


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """A server on a memory store: a bomb card, a good model, and a truncated config."""
    backend = MemoryBackend("hostile")

    async def fill() -> None:
        async with Localizer(Config(), backend=backend) as loc:
            for model_id, card, sizes in (
                ("evil/bomb", alias_bomb(), {}),
                ("good/model", GOOD_CARD, {}),
                ("torn/model", GOOD_CARD, {"config.json": len(CONFIG) + 100}),
            ):
                files = {
                    "model_card.md": ("README.md", card),
                    "config.json": ("config.json", CONFIG),
                }
                record = _record(model_id, files, sizes)
                content = {name: data for name, (_, data) in files.items()}
                await loc.models.save(loc.model_prefix(model_id, None), content, record)

    anyio.run(fill)
    with running(create_app(Config(), store=backend)) as base:
        yield base


def test_a_yaml_alias_bomb_card_answers_fast_without_card_data(url: str) -> None:
    assert len(alias_bomb()) < 500
    start = time.monotonic()
    r = httpx2.get(f"{url}/api/models/evil/bomb", timeout=30)
    assert time.monotonic() - start < 5
    assert r.status_code == 200
    assert "cardData" not in r.json() and r.json()["id"] == "evil/bomb"
    # The card itself is still served as it is.
    assert httpx2.get(f"{url}/evil/bomb/resolve/main/README.md").content == alias_bomb()


def test_other_clients_are_served_while_bomb_cards_are_asked_for(url: str) -> None:
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            httpx2.get(f"{url}/api/models/evil/bomb", timeout=30)

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        worst = 0.0
        for _ in range(10):
            start = time.monotonic()
            r = httpx2.get(f"{url}/api/models/good/model", timeout=30)
            worst = max(worst, time.monotonic() - start)
            assert r.status_code == 200 and r.json()["cardData"] == {"license": "mit"}
        assert worst < 2
    finally:
        stop.set()
        for t in threads:
            t.join(30)


@pytest.mark.parametrize(
    "path",
    [
        "/good/model%0A/resolve/main/config.json",
        "/api/models/good/model%0A",
        "/api/models/good/model%0A/tree/main",
        "/api/models/good%0A/model/revision/main",
    ],
)
def test_an_id_with_a_trailing_newline_is_not_found_not_a_500(url: str, path: str) -> None:
    r = httpx2.get(url + path)
    assert r.status_code == 404
    assert r.headers["x-error-code"] == "RepoNotFound"


def test_a_range_with_a_non_ascii_digit_is_ignored(url: str) -> None:
    for value in ("bytes=\u00b2-3", "bytes=0-\u0663", "bytes=-\u00b9"):
        r = httpx2.get(
            f"{url}/good/model/resolve/main/config.json",
            headers={"range": value.encode("latin-1", "replace")},
        )
        assert r.status_code == 200, value
        assert r.content == CONFIG


def test_head_and_get_of_a_truncated_file_agree_and_name_the_damage(url: str) -> None:
    head = httpx2.head(f"{url}/torn/model/resolve/main/config.json")
    get = httpx2.get(f"{url}/torn/model/resolve/main/config.json")
    assert head.status_code == get.status_code == 500
    assert "damaged" in get.json()["error"]
    assert "damaged" in head.headers["x-error-message"]
    # The intact file of the same model is still served, both ways.
    assert httpx2.head(f"{url}/torn/model/resolve/main/README.md").status_code == 200
