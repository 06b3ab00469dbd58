"""The console (service/console/) in a real browser against the real service: the gallery
shows the samples large and linked to their addresses, 2-D models as a scatter plot, the latent
walk plays, the models page lists the versions, and the pages fit a 360 px screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import SCREENSHOTS, assert_clean, open_browser, wait_until
from sample_service_harness import API_KEY, ServiceProcess, copy_store

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def api(trained_store: Path, make_service, tmp_path_factory) -> ServiceProcess:
    store = copy_store(trained_store, tmp_path_factory.mktemp("console") / "models")
    service = make_service(store, api_keys=[API_KEY])
    service.wait_ready()
    return service


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from open_browser()


def _select(driver: Any, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    field = wait_until(driver, lambda: driver.find_element("id", select_id), 30, f"#{select_id}")
    wait_until(driver, lambda: value in [o.get_attribute("value") for o in Select(field).options],
               30, f"{value} in #{select_id}")  # fmt: skip
    Select(field).select_by_value(value)


def _sources(driver: Any) -> list[str]:
    """The samples' bytes, as the data: URLs the gallery shows them with."""
    images = driver.find_elements("css selector", "#gallery-results img")
    return [i.get_attribute("src") for i in images]


def _fill(driver: Any, field_id: str, value: str) -> None:
    field = driver.find_element("id", field_id)
    field.clear()
    field.send_keys(value)


def test_the_gallery_shows_samples_large_and_linked(api: ServiceProcess, browser: Any) -> None:
    browser.get(f"{api.url}/#/gallery")
    _select(browser, "gallery-model", "digits@30")
    _fill(browser, "gallery-seed", "42")
    _fill(browser, "gallery-n", "4")
    browser.find_element("id", "gallery-show").click()
    images = wait_until(
        browser,
        lambda: [i for i in browser.find_elements("css selector", "#gallery-results img")
                 if i.get_property("naturalWidth")] if len(
            browser.find_elements("css selector", "#gallery-results img")) == 4 else None,
        60, "4 loaded samples",
    )  # fmt: skip
    assert len(images) == 4
    for index, image in enumerate(images):
        assert image.get_property("naturalWidth") == 8  # the model's own 8 x 8 pixels...
        assert image.size["width"] >= 64  # ...shown large
        link = image.find_element("xpath", "./ancestor::a")
        assert link.get_attribute("href").endswith(f"/samples/digits@30/42/{index}.png")
    header = browser.find_element("id", "gallery-version").text
    assert "digits@30" in header and re.search(r"[0-9a-f]{8}", header)
    first = _sources(browser)
    assert len(set(first)) == 4  # four different samples

    _fill(browser, "gallery-seed", "43")
    browser.find_element("id", "gallery-show").click()
    wait_until(browser, lambda: _sources(browser) and _sources(browser) != first, 60, "seed 43")
    other = _sources(browser)
    assert not set(other) & set(first)  # another seed, other pictures
    _fill(browser, "gallery-seed", "42")
    browser.find_element("id", "gallery-show").click()
    wait_until(browser, lambda: _sources(browser) == first, 60, "seed 42's bytes again")
    browser.save_screenshot(str(SCREENSHOTS / "gallery.png"))
    assert_clean(browser, api.url)


def test_a_2d_model_is_drawn_as_a_scatter_plot(api: ServiceProcess, browser: Any) -> None:
    browser.get(f"{api.url}/#/gallery")
    _select(browser, "gallery-model", "ring-8@30")
    _fill(browser, "gallery-n", "64")
    browser.find_element("id", "gallery-show").click()
    painted = """
        const c = document.querySelector('#gallery-plot');
        if (!c || !c.width) return 0;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;"""
    assert wait_until(browser, lambda: browser.execute_script(painted) > 200, 60, "points drawn")


def test_the_latent_walk_plays(api: ServiceProcess, browser: Any) -> None:
    browser.get(f"{api.url}/#/walk")
    _select(browser, "walk-model", "digits@30")
    browser.find_element("id", "walk-play").click()
    loaded = "const i = document.querySelector('#walk-animation'); return i && i.naturalWidth;"
    assert wait_until(browser, lambda: browser.execute_script(loaded), 60, "the animation") == 8
    browser.save_screenshot(str(SCREENSHOTS / "walk.png"))
    assert_clean(browser, api.url)


def test_the_models_page_lists_every_version(api: ServiceProcess, browser: Any) -> None:
    browser.get(f"{api.url}/#/models")
    wait_until(browser, lambda: "digits@15" in browser.find_element("id", "models-list").text,
               30, "digits@15 listed")  # fmt: skip
    listed = browser.find_element("id", "models-list").text
    for ref in ("digits@15", "digits@30", "ring-8@30"):
        assert ref in listed
    browser.save_screenshot(str(SCREENSHOTS / "models.png"))
    assert_clean(browser, api.url)


def test_the_pages_fit_a_360_px_screen(api: ServiceProcess) -> None:
    for driver in open_browser(width=360, height=800):
        for page in ("gallery", "walk", "jobs", "models"):
            driver.get(f"{api.url}/#/{page}")
            nav = f"nav-{page}"
            wait_until(driver, lambda d=driver, n=nav: d.find_element("id", n), 30, "the nav")
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"#/{page} is {overflow} px wider than a 360 px screen"
        driver.save_screenshot(str(SCREENSHOTS / "models-360.png"))
