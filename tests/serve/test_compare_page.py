"""The compare page of hgloc serve: picking, the side-by-side table, the plot, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx2
import pytest
from facts import models  # tests/ is on the path (rootdir conftest)

from hgloc import Config, Localizer
from hgloc.facts import api
from hgloc.serve import create_app
from hgloc_testing import HubEmulator

from .conftest import running
from .test_page import browser  # noqa: F401  (the Chromium fixture)

STORED = [models.LLAMA_FULL, models.MIXTRAL_SHARDED, models.GPT2, models.CLIP, models.FALCON]


@pytest.fixture(scope="module")
def compare_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store of the facts tests' models (parameters fetched), served."""
    folder = tmp_path_factory.mktemp("compare-store")
    emulator = HubEmulator(models.repos())
    with emulator.run_in_thread():
        config = Config(models_store_path=folder, hf_endpoint=emulator.url, offline=False)

        async def fill() -> None:
            async with Localizer(config) as loc:
                assert (await loc.download(models.LLAMA_FULL, metadata_only=False)).ok
                for model_id in STORED[1:]:
                    assert (await loc.download(model_id)).ok
                await api.fetch_parameters([models.MIXTRAL_SHARDED], localizer=loc)

        anyio.run(fill)
    with running(create_app(Config(models_store_path=folder, offline=True))) as url:
        yield url


def _compare(base: str, *model_ids: str, all_rows: bool = False) -> str:
    url = f"{base}/compare?models={quote(','.join(model_ids))}"
    return url + ("&all=1" if all_rows else "")


def test_facts_json_lists_every_stored_model(compare_url: str) -> None:
    r = httpx2.get(compare_url + "/api/hgloc/facts")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    by_id = {m["model_id"]: m for m in r.json()}
    assert set(by_id) == set(STORED)
    assert by_id[models.LLAMA_FULL]["parameters"] == 56  # F16 4x8 + 16, F32 8
    assert by_id[models.CLIP]["text_config.hidden_size"] == 512


def test_the_page_escapes_and_allows_no_script(compare_url: str) -> None:
    r = httpx2.get(_compare(compare_url, "<script>alert(1)</script>"))
    assert r.status_code == 400  # not a model id
    assert "script-src" not in r.headers["content-security-policy"]
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text
    missing = httpx2.get(_compare(compare_url, "acme/not-stored"))
    assert missing.status_code == 404 and "acme/not-stored" in missing.text


def test_a_browser_compares_and_plots(browser: Any, compare_url: str) -> None:  # noqa: F811
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert page.goto(compare_url + "/compare").status == 200
    # pick two models with the links
    page.click(f"#picker >> text={models.LLAMA_FULL}")
    page.click(f"#picker >> text={models.GPT2}")
    assert page.url == f"{compare_url}/compare?models={models.LLAMA_FULL},{models.GPT2}"
    header = page.eval_on_selector_all("#comparison thead th", "c => c.map(x => x.textContent)")
    assert header == ["field", models.LLAMA_FULL, models.GPT2]
    rows = page.eval_on_selector_all(
        "#comparison tbody tr",
        "rows => rows.map(r => [r.className, ...Array.from(r.cells, c => c.textContent)])",
    )
    by_field = {row[1]: row for row in rows}
    assert all(row[0] == "differs" for row in rows)  # only differences by default
    assert by_field["hidden_size"][2:] == ["4,096", "768 -3,328 (-81%)"]
    assert by_field["model_type"][2:] == ["llama", "gpt2"]
    highlighted = page.eval_on_selector(
        "#comparison tr.differs td", "td => getComputedStyle(td).backgroundColor"
    )
    assert highlighted == "rgb(255, 248, 197)"
    # every field, the equal ones not highlighted
    page.click("#toggle")
    classes = page.eval_on_selector_all("#comparison tbody tr", "r => r.map(x => x.className)")
    assert "same" in classes and "differs" in classes
    # the plot: one dot per model with both parameters and context, coloured by model_type
    dots = page.eval_on_selector_all(
        "#plot circle.dot",
        "d => d.map(c => [c.dataset.model, c.dataset.type, c.getAttribute('fill')])",
    )
    assert {d[0] for d in dots} == {models.LLAMA_FULL, models.MIXTRAL_SHARDED}
    assert {d[1] for d in dots} == {"llama", "mixtral"}
    assert len({d[2] for d in dots}) == 2
    legend = page.eval_on_selector_all("#plot text.legend", "t => t.map(x => x.textContent)")
    assert legend == ["llama", "mixtral"]
    assert "3 models not plotted" in (page.text_content("body") or "")
    box = page.eval_on_selector("#plot", "s => s.getBoundingClientRect().width")
    assert box > 600
    assert page.eval_on_selector_all("script", "s => s.length") == 0
    assert errors == []
    page.close()


def test_the_plot_is_drawn_on_an_empty_store(tmp_path: Path) -> None:
    with running(create_app(Config(models_store_path=tmp_path, offline=True))) as url:
        html = httpx2.get(url + "/compare").text
    assert 'id="plot-empty"' in html
