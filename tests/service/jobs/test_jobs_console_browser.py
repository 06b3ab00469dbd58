"""The console's job pages in a real browser, against real Redis, a real worker and the API:
a job submitted from the form trains, and its page follows it live (state, loss charts,
samples picture), as a person would watch it; a job on a labelled image set shows its quality
metrics beside the real data's, on its page and on the models page."""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, Stack

# The browser helpers live in the service tests' folder; loaded by path so that no test folder
# is put on sys.path (each folder has its own conftest).
_spec = importlib.util.spec_from_file_location(
    "console_browser", Path(__file__).resolve().parents[1] / "browser.py"
)
assert _spec and _spec.loader
browser_support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser_support)
open_browser, wait_until = browser_support.open_browser, browser_support.wait_until
assert_clean, SCREENSHOTS = browser_support.assert_clean, browser_support.SCREENSHOTS

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from open_browser()


@pytest.mark.slow
def test_a_job_submitted_from_the_console_is_followed_live_and_cancelled(
    stack: Stack, browser: Any
) -> None:
    stack.ensure_worker()
    browser.get(f"{stack.api.url}/#/jobs")
    key = wait_until(browser, lambda: browser.find_element("id", "api-key"), 30, "the key field")
    key.send_keys(API_KEY)
    form = browser.find_element("id", "job-submit")
    dataset = form.find_element("css selector", "[name=dataset]")
    wait_until(browser, lambda: "ring-8" in dataset.get_attribute("innerHTML") or
               dataset.tag_name == "input", 30, "the datasets")  # fmt: skip
    if dataset.tag_name == "select":
        from selenium.webdriver.support.ui import Select

        Select(dataset).select_by_value("ring-8")
    else:
        dataset.send_keys("ring-8")
    steps = form.find_element("css selector", "[name=steps]")
    steps.clear()
    steps.send_keys("300")
    form.find_element("css selector", "button[type=submit]").click()

    wait_until(browser, lambda: "#/jobs/" in browser.current_url, 30, "the job page")
    job_id = browser.current_url.rsplit("/", 1)[1]
    state = lambda: browser.find_element("id", "job-state").text.lower()  # noqa: E731
    progress = lambda: browser.find_element("id", "job-progress-text").text  # noqa: E731
    seen = {wait_until(browser, lambda: "step" in progress() and progress(), 60, "progress")}
    while "succeeded" not in state() and len(seen) < 3:  # live: the step moves on the page
        seen.add(wait_until(browser, lambda: progress() not in seen and progress(), 120,
                            "the next progress report"))  # fmt: skip
    wait_until(browser, lambda: "succeeded" in state(), 240, "the job to succeed")
    record = stack.job(job_id)
    assert record["state"] == "succeeded" and record["total_steps"] == 300
    assert record["config"]["batch_size"] == 256  # the ring-8 preset, as the form showed
    charts = browser.find_elements("css selector", "#job-chart-losses canvas")
    assert charts, "no loss chart drawn"
    picture = "const i = document.querySelector('#job-samples'); return i && i.naturalWidth;"
    assert wait_until(browser, lambda: browser.execute_script(picture), 30, "samples.png") > 0
    browser.save_screenshot(str(SCREENSHOTS / "job.png"))

    browser.get(f"{stack.api.url}/#/jobs")
    listed = lambda: browser.find_element("id", "jobs-list").text  # noqa: E731
    assert wait_until(browser, lambda: record["name"] in listed(), 30, "the job in the list")
    browser.save_screenshot(str(SCREENSHOTS / "jobs.png"))

    # Cancel from the job's page (the key is still in this tab's session).
    long_job = stack.submit(dataset="ring-8", steps=100_000, checkpoint_every=100)["id"]
    browser.get(f"{stack.api.url}/#/jobs/{long_job}")
    wait_until(browser, lambda: "running" in state(), 120, "the long job to run")
    wait_until(browser, lambda: browser.find_element("id", "job-cancel").is_enabled(), 30,
               "the cancel button")  # fmt: skip
    browser.find_element("id", "job-cancel").click()
    wait_until(browser, lambda: "cancelled" in state(), 120, "the job to be cancelled")
    assert stack.job(long_job)["state"] == "cancelled"
    assert_clean(browser, stack.api.url)


@pytest.mark.slow
def test_an_image_job_shows_its_quality_metrics_beside_the_real_data(
    stack: Stack, browser: Any
) -> None:
    stack.ensure_worker()
    job = stack.submit(dataset="digits:train", steps=40, checkpoint_every=40, name="digits-q")
    browser.get(f"{stack.api.url}/#/jobs/{job['id']}")
    state = lambda: browser.find_element("id", "job-state").text.lower()  # noqa: E731
    wait_until(browser, lambda: "succeeded" in state(), 240, "the job to succeed")
    fd = wait_until(browser, lambda: browser.find_element("css selector", "[data-metric=fd]"),
                    30, "the FD row")  # fmt: skip
    value, real = (fd.find_element("css selector", c).text for c in (".value", ".ref"))
    assert fd.text.startswith("Fréchet distance (classifier features)")
    expected = stack.job(job["id"])["metrics"]["fd"]
    assert math.isclose(float(value.replace(",", "")), expected, rel_tol=0.01), (value, expected)
    assert re.fullmatch(r"real data: [\d.]+ · [\d.,]+× real", real), real
    table = browser.find_element("id", "job-metrics").text
    assert "real training images:" in table and "scored against the held-out split" in table
    chart = lambda: browser.find_element("id", "job-chart-fd-box").is_displayed()  # noqa: E731
    wait_until(browser, chart, 30, "the FD chart")  # drawn once the events are replayed
    default = "#job-versions .badge.default"  # the service's catalog has the version
    wait_until(browser, lambda: browser.find_elements("css selector", default), 30, default)
    browser.save_screenshot(str(SCREENSHOTS / "job-image.png"))

    browser.get(f"{stack.api.url}/#/models")
    card = lambda: browser.find_element("css selector", "[data-model=digits-q]").text  # noqa: E731
    text = wait_until(browser, lambda: "FD " in card() and card(), 30, "the FD summary")
    summary = r"FD [\d.,]+ \(real [\d.]+\) · KL \S+ · conf \S+ · Parzen \S+ nats"
    assert re.search(summary, text) and "fd_real" not in text, text
    assert_clean(browser, stack.api.url)
