"""The listing page at ``/``: its content, its escaping, its token, and a real browser on it."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hgloc.config import Config
from hgloc.serve import create_app

from .conftest import CARDS, LEGACY, NASTY, NASTY_REVISION, TINY, Store, running

TOKEN = "s3cret-token"
CHROMIUM = os.environ.get("HGLOC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page_url(local_store: Store) -> Iterator[str]:
    with running(local_store.app()) as url:
        yield url


@pytest.fixture(scope="module")
def token_url(local_store: Store) -> Iterator[str]:
    with running(local_store.app(token=TOKEN)) as url:
        yield url


def test_the_page_lists_every_model_with_revision_type_size_and_card(page_url: str) -> None:
    r = httpx2.get(page_url + "/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none'
    html = r.text
    assert "5 models" in html
    for model in (TINY, CARDS, LEGACY, NASTY):
        assert f">{model}</a>" in html
    assert f'href="/{TINY}/resolve/main/README.md"' in html
    assert f'href="/{CARDS}/resolve/v1.0/README.md"' in html
    assert 'class="type full">full<' in html and 'class="type metadata">metadata<' in html
    assert f"export HF_ENDPOINT={page_url}" in html


def test_the_page_escapes_what_it_shows(page_url: str) -> None:
    html = httpx2.get(page_url + "/").text
    assert "<script>" not in html
    assert escape(NASTY_REVISION) in html
    assert "%22%3E%3Cscript%3Ewindow.pwned%3D1%3C%2Fscript%3E" in html  # the link, encoded
    evil_host = httpx2.get(page_url + "/", headers={"Host": "<b>x</b>"}).text
    assert "<b>x</b>" not in evil_host and "&lt;b&gt;x&lt;/b&gt;" in evil_host


def test_an_empty_store_says_how_to_fill_it(tmp_path: Path) -> None:
    with running(create_app(Config(models_store_path=tmp_path))) as url:
        html = httpx2.get(url + "/").text
    assert "0 models" in html and 'id="empty"' in html and "hgloc download-model" in html


def test_the_token_guards_everything(token_url: str) -> None:
    paths = ["/", f"/{TINY}/resolve/main/config.json", f"/api/models/{TINY}"]
    for path in paths:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            r = httpx2.get(token_url + path, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert r.headers["x-error-message"] == "Invalid credentials in Authorization header"
        assert httpx2.get(token_url + path, headers={"Authorization": f"Bearer {TOKEN}"}).is_success
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    assert httpx2.get(token_url + "/", headers={"Authorization": f"Basic {basic}"}).is_success
    page = httpx2.get(token_url + "/")
    assert page.headers["www-authenticate"].startswith("Basic ")  # a browser asks for it
    assert "www-authenticate" not in httpx2.get(token_url + paths[1]).headers
    # Unauthorized requests learn nothing, not even that a method is refused.
    assert httpx2.put(token_url + paths[1]).status_code == 401


def test_a_near_miss_token_learns_nothing(token_url: str) -> None:
    """Tokens are compared as fixed-size digests: a prefix, an extension, one changed
    character or a token of another length get the very same answer as a wild guess."""
    guesses = [
        "x",
        TOKEN[:-1],
        TOKEN + "y" * 500,
        TOKEN[:-1] + "X",
        TOKEN.upper(),
        f"{TOKEN}x",
    ]
    answers = {
        (
            r.status_code,
            r.content,
            tuple(sorted((k, v) for k, v in r.headers.items() if k != "date")),
        )
        for r in (
            httpx2.get(
                token_url + f"/{TINY}/resolve/main/config.json",
                headers={"Authorization": f"Bearer {g}"},
            )
            for g in guesses
        )
    }
    assert len(answers) == 1
    status, content, _ = answers.pop()
    assert status == 401 and b"not this server's" in content
    right = httpx2.get(token_url + "/", headers={"Authorization": f"Bearer  {TOKEN}"})
    assert right.is_success  # blanks around the token are not part of it


# -- a real browser --------------------------------------------------------------------------


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the browser test needs playwright (pip install playwright)"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no browser at {CHROMIUM} (apt-get install chromium, or set HGLOC_TEST_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_a_browser_shows_the_listing_and_opens_a_card(browser: Any, page_url: str) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(page_url + "/")
    assert response is not None and response.status == 200
    assert page.title() == "hgloc serve: 5 models"
    rows = page.eval_on_selector_all(
        "#models tbody tr",
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))",
    )
    by_model = {(row[0], row[1]): row for row in rows}
    assert set(by_model) == {
        (TINY, "main (default)"),
        (CARDS, "main (default)"),
        (CARDS, "v1.0"),
        (LEGACY, "main (default)"),
        (NASTY, NASTY_REVISION),  # shown literally, not run
    }
    assert by_model[(TINY, "main (default)")][3] == "full"
    assert by_model[(CARDS, "v1.0")][3] == "metadata"
    assert by_model[(TINY, "main (default)")][5].endswith("kB")
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.eval_on_selector_all("script", "s => s.length") == 0
    assert page.text_content("#usage") == f"export HF_ENDPOINT={page_url}"

    page.click(f"text={TINY}")
    page.wait_for_url(f"{page_url}/{TINY}/resolve/main/README.md")
    assert "# Tiny BERT" in (page.text_content("body") or "")
    assert errors == []
    page.close()


def test_a_browser_gets_the_page_with_the_token(browser: Any, token_url: str) -> None:
    context = browser.new_context(http_credentials={"username": "me", "password": TOKEN})
    try:
        page = context.new_page()
        assert page.goto(token_url + "/").status == 200
        assert page.title() == "hgloc serve: 5 models"
        page.click(f"text={CARDS} >> nth=0")  # the card link works with the same credentials
        assert "Version" in (page.text_content("body") or "")
    finally:
        context.close()
