"""results/index.html in a real browser: headless Chromium (Debian's chromium and
chromium-driver, installed by .ci/run) opens the page of a small real run from disk: of
the tutorial's search (2 objectives), of the example's 3-objective search, and of a
search still running (the page the driver keeps current).

Checks that every plot container rendered (holds plotly's SVG), that the page made no
network request (every request is file://) and logged no console error, and saves a
screenshot into the test's temp dir.
"""

import base64
import json
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
EXPECTED_PLOTS = {  # run -> the plots its page must render
    "tutorial": {"pareto", "hypervolume", "curves", "cv", "contour_val_acc", "contour_num_params",
                 "parallel_val_acc", "parallel_num_params", "importance_val_acc",
                 "importance_num_params"},
    "three_objectives": {"pareto", "hypervolume", "curves", "cv", "contour_accuracy",
                         "contour_weights", "contour_latency",
                         *(f"{kind}_{metric}" for kind in ("parallel", "importance")
                           for metric in ("accuracy", "weights", "latency"))},
}

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
           "chromium-driver; .ci/run installs them)",
)


def open_page(path, profile_dir, width=1300, height=900):
    """A headless Chromium session on `path` with network and console logging on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile_dir}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.get(Path(path).resolve().as_uri())
    return driver


RENDER_STATE = """
return Array.from(document.querySelectorAll('div.plot[data-plot]')).map(c => {
    const gd = c.querySelector('.js-plotly-plot');
    return {name: c.dataset.plot,
            svg: c.querySelectorAll('svg.main-svg').length,
            canvas: c.querySelectorAll('canvas').length,
            traces: gd && gd._fullData ? gd._fullData.length : 0,
            height: c.getBoundingClientRect().height};
});
"""


def wait_for_plots(driver, timeout=60):
    deadline = time.time() + timeout
    while True:
        state = driver.execute_script(RENDER_STATE)
        if state and all(p["svg"] and p["traces"] for p in state) or time.time() > deadline:
            return state
        time.sleep(0.5)


def requests_made(driver):
    """URLs of every request sent, from the DevTools Network events; except those of
    the browser's own chrome:// and chrome-untrusted:// pages (its new-tab page loads its
    resources at start-up; its chrome-untrusted:// one-google-bar frame is in the log by
    the time it is read for some pages and not for others)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            params = message["params"]
            if not params.get("documentURL", "").startswith(("chrome://", "chrome-untrusted://")):
                urls.append(params["request"]["url"])
    return urls


def full_page_screenshot(driver, path):
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    Path(path).write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="session")
def three_objective_run(tmp_path_factory):
    """The example's 3-objective search (examples/spirals/three_objectives.toml), 2 trials."""
    from conftest import ROOT, run_driver

    results = tmp_path_factory.mktemp("three")
    proc = run_driver("--config", ROOT / "examples" / "spirals" / "three_objectives.toml",
                      "--trials", 2, "--seed", 0, "--results-dir", results)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results, proc


@pytest.fixture(scope="module", params=list(EXPECTED_PLOTS))
def page(request, tmp_path_factory):
    run = "small_run" if request.param == "tutorial" else "three_objective_run"
    results, _ = request.getfixturevalue(run)
    tmp = tmp_path_factory.mktemp("browser")
    driver = open_page(results / "index.html", tmp / "profile")
    try:
        plots = wait_for_plots(driver)
        yield driver, plots, requests_made(driver), driver.get_log("browser"), tmp, request.param
    finally:
        driver.quit()


def test_every_plot_rendered(page):
    driver, plots, _, _, tmp, run = page
    assert {p["name"] for p in plots} == EXPECTED_PLOTS[run], plots
    for p in plots:
        assert p["svg"] >= 1 and p["traces"] >= 1, p
        assert p["height"] > 100, p
    if run == "three_objectives":  # one panel per pair of objectives
        panels = driver.execute_script(
            "return document.querySelector('div[data-plot=pareto] .js-plotly-plot')"
            "._fullLayout._subplots.cartesian.length")
        assert panels == 3
    full_page_screenshot(driver, tmp / "index.png")
    assert (tmp / "index.png").stat().st_size > 10_000
    print(f"screenshot: {tmp / 'index.png'}")


def test_no_network_request(page):
    _, _, urls, _, _, _ = page
    assert any(u.endswith("/index.html") for u in urls), urls  # the log does record requests
    assert any(u.endswith("/plotly.min.js") for u in urls), urls
    # data: URLs are inline content (plotly makes some), not requests that leave the machine
    outside = [u for u in urls if not u.startswith(("file://", "data:"))]
    assert not outside, outside


def test_no_console_error(page):
    _, _, _, console, _, _ = page
    errors = [e for e in console if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


def test_summary_comes_first_and_sections_in_order(page):
    driver, *_, run = page
    ids = driver.execute_script(
        "return Array.from(document.querySelectorAll('section')).map(s => s.id)")
    assert ids == ["summary", "pareto", "hypervolume", "curves", "trials", "cv", "contours",
                   "matters", "failed"]
    text = driver.find_element("id", "summary").text
    assert "2 completed, 0 failed, 0 running" in text and "final hypervolume" in text
    if run == "tutorial":
        assert "val_acc 0.94" in text and "80,000" in text
    else:
        assert "accuracy 0.8 (maximized), weights 2,000 (minimized), latency 100 (minimized)" in text


def test_the_page_of_a_running_search(live_search, tmp_path):
    """The page as the driver wrote it once the first trial completed, the search running
    on (conftest.live_search): it counts that trial and says the search runs; the plots
    that need no model fit render."""
    driver = open_page(live_search.first / "index.html", tmp_path / "profile")
    try:
        plots = wait_for_plots(driver)
        status = driver.find_element("id", "status")
        state, line = status.get_attribute("data-state"), status.text
        summary = driver.find_element("id", "summary").text
        console, urls = driver.get_log("browser"), requests_made(driver)
    finally:
        driver.quit()
    assert live_search.running_after_copy
    assert state == "running"
    assert line.startswith(f"Running under the driver pid {live_search.pid} (started ")
    assert "1 of 2 trials done; running: trial 1 for" in line and "reload for the latest" in line
    assert "1 completed, 0 failed, 1 running" in summary
    assert {p["name"] for p in plots} == {"pareto", "hypervolume", "curves"}, plots
    assert all(p["svg"] >= 1 and p["traces"] >= 1 for p in plots), plots
    assert not [e for e in console if e["level"] in ("SEVERE", "ERROR")], console
    assert not [u for u in urls if not u.startswith(("file://", "data:"))], urls


def test_the_checks_can_fail(tmp_path):
    """A page that asks the network for something and logs an error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><html><body><img src="http://127.0.0.1:9/x.png">'
                   '<script>console.error("boom")</script></body></html>')
    driver = open_page(bad, tmp_path / "profile")
    try:
        time.sleep(1)
        urls = requests_made(driver)
        console = driver.get_log("browser")
    finally:
        driver.quit()
    assert "http://127.0.0.1:9/x.png" in urls
    assert any(e["level"] == "SEVERE" and "boom" in e["message"] for e in console), console
