"""A real Chromium driven by selenium for the interactive pages' tests: Debian's ``chromium`` and
``chromium-driver``, no downloaded browser (selenium's own driver manager is never asked).

Every page is loaded with the network blocked (DevTools ``Network.setBlockedURLs`` for every
scheme but file:), and a probe installed before the page's own script records script errors,
console errors and blocked loads (:func:`page_errors`). Skipped when the browser, its driver or
selenium is missing, except in CI (``CI=true``), where that fails: .ci/run installs them.
"""

from __future__ import annotations

import io
import os
import shutil

import pytest

PROBE = """
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push("error: " + e.message); }, true);
document.addEventListener("securitypolicyviolation", function (e) { window.__errors.push("blocked: " + e.blockedURI); });
var realError = console.error;
console.error = function () { window.__errors.push("console.error: " + [].join.call(arguments, " "));
                              realError.apply(console, arguments); };
"""


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def chrome():
    """A headless Chromium under chromedriver, network blocked, the probe on every new document."""
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        _missing("no Chromium or chromedriver: apt-get install -y chromium chromium-driver (docs/reports.md)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed: pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=options)
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]})
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
    return d


def page_errors(d) -> list[str]:
    """Script errors, console errors and blocked loads since the page was loaded."""
    errors = d.execute_script("return window.__errors || ['the probe did not run'];")
    severe = [e["message"] for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    return list(errors) + severe


def not_blank(png: bytes, min_colors: int = 20) -> bool:
    """Whether a screenshot shows something: many distinct colours, not one flat fill."""
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    flat = (pixels[..., :3].reshape(-1, 3) * 255).round().astype(int)
    return len({tuple(p) for p in flat[:: max(1, len(flat) // 20000)]}) >= min_colors
