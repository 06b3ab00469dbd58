"""Headless Chromium through its chromedriver (Debian's packages; nothing is downloaded), for
tests that look at the console the way a person does."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
# Where the browser tests leave their screenshots (git-ignored; docs/console/ keeps copies).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def open_browser(width: int = 1200, height: int = 900) -> Iterator[Any]:
    """A headless Chromium session; skips when Debian's chromium or its driver is missing
    (.ci/run installs both)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed (apt-get install them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # the element is not there yet, or the page is re-rendering
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            message = driver.execute_script(
                "const m = document.querySelector('#message'); return m ? m.textContent : ''"
            )
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                 f"page message: {message!r}")  # fmt: skip
        time.sleep(0.2)


def assert_clean(driver: Any, origin: str) -> None:
    """No errors in the page's console, and every request the page made went to `origin`
    (or stayed inside the page: data: and blob: URLs), from the browser's own logs."""
    import json

    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert urls, "no request seen in the performance log"
    elsewhere = [u for u in urls if not u.startswith((origin, "data:", "blob:"))]
    assert not elsewhere, f"requests left {origin}: {elsewhere}"
