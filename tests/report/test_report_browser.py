"""The report in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
driven by Selenium, the page opened from a file with the network switched off.

Asserted: every chart drew marks, the console has no error, no request left the page,
and the page fits 1280 px and a 390 px phone without horizontal scrolling. Screenshots
are kept under $CLIENTELA_ARTIFACTS (default: <tmp>/out/report) for a person to look at.
Skipped only on a machine without /usr/bin/chromium or chromedriver.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_support import Built

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REQUIRED = bool(os.environ.get("CLIENTELA_REQUIRE_BROWSER"))
"""Set by .ci/run, which installs the browser: there a missing one fails the tests."""
ARTIFACTS = Path(os.environ.get("CLIENTELA_ARTIFACTS") or Path(tempfile.gettempdir()) / "out")
"""Read at import: every test runs with the CLIENTELA_* variables cleared."""
pytestmark = pytest.mark.skipif(
    not REQUIRED and (not CHROMIUM.exists() or not Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver)")

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")

MARKS = """
return Array.from(document.querySelectorAll('figure.chart')).map(figure => [
  figure.id,
  Array.from(figure.querySelectorAll('svg')).map(svg => {
    const marks = Array.from(svg.querySelectorAll('g.role-mark:not(.mark-text) > *'));
    return marks.filter(mark => {
      const box = mark.getBBox();
      return box.width > 0 || box.height > 0;
    }).length;
  })
]);
"""
SPARKS = """
return Array.from(document.querySelectorAll('tr[data-metric] td.trend')).map(cell =>
  cell.querySelectorAll('svg.spark polyline').length);
"""
WIDTH = "return [document.documentElement.scrollWidth, window.innerWidth];"


def artifacts() -> Path:
    folder = ARTIFACTS / "report"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="clientela-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requests_made(driver: Any) -> list[str]:
    """URLs requested since the last call, leaving out the browser's own pages (chrome://,
    e.g. the new-tab page it opens at start), which no report can cause."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith("chrome://"):
                urls.append(url)
    return urls


def open_page(driver: Any, path: Path, width: int) -> list[str]:
    """Open the file at a viewport `width` px wide; returns the URLs the page asked for."""
    driver.get_log("performance")
    driver.get_log("browser")
    if width < 500:  # below Chromium's smallest window: emulate a phone's viewport
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.set_window_size(width, 900)
    driver.get(path.as_uri())
    return requests_made(driver)


def screenshot(driver: Any, name: str, width: int, *selectors: str) -> None:
    from selenium.webdriver.common.by import By

    folder = artifacts()
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": min(height, 16_000), "deviceScaleFactor": 1,
        "mobile": width < 500})
    driver.save_screenshot(str(folder / f"{name}.png"))
    for selector in selectors:
        element = driver.find_element(By.CSS_SELECTOR, selector)
        label = selector.strip("#.").replace(" ", "-").replace(".", "")
        element.screenshot(str(folder / f"{name}-{label}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def check_page(driver: Any, path: Path, width: int, *, charts: int) -> None:
    asked = open_page(driver, path, width)
    assert asked == [path.as_uri()], f"the page asked for {asked}"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    found = driver.execute_script(MARKS)
    assert len(found) == charts
    for figure, per_svg in found:
        assert per_svg and all(count > 0 for count in per_svg), (figure, per_svg)
    scroll, inner = driver.execute_script(WIDTH)
    assert inner == width
    assert scroll <= inner, f"{path.name} scrolls sideways at {width} px ({scroll} px wide)"


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "width"), [("en", 1280), ("pt-BR", 390)])
def test_monthly_report_in_chromium(browser: Any, built: Built, lang: str, width: int) -> None:
    path = built.folder / f"report-{lang}.html"
    check_page(browser, path, width, charts=10)
    sparks = browser.execute_script(SPARKS)
    assert len(sparks) > 40 and sum(1 for n in sparks if n >= 1) >= len(sparks) - 2
    screenshot(browser, f"monthly-{lang}-{width}", width, "#monthly .scroll",
               "#chart-rfm_grid")


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_before_after_page_in_chromium(browser: Any, built: Built, width: int) -> None:
    path = built.folder / "compare.html"
    check_page(browser, path, width, charts=3)
    screenshot(browser, f"compare-{width}", width)


def test_the_request_monitor_sees_a_page_that_reaches_out(browser: Any, tmp_path: Path
                                                          ) -> None:
    """The 'no request left the page' check can fail: a page with one remote image is
    caught (and, offline, the image does not load)."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><img src="https://example.org/pixel.png">',
                    encoding="utf-8")
    asked = open_page(browser, page, 1280)
    assert "https://example.org/pixel.png" in asked
