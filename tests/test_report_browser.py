"""report.html in a real browser: headless Chromium (Debian's ``chromium``) opens a run's page and
a comparison's page from disk and must draw them without a console error, a script error or a
blocked network request, showing the tables, the figures (inline SVG) and the interactive curves.

The page's own Content-Security-Policy forbids every network load, so a page that tried to fetch
anything would report a violation here. Skipped when no browser is installed, except in CI
(``CI=true``), where a missing browser fails: .ci/run installs it (README, "Reports").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from optlab.config.loading import load_config
from optlab.studies.compare import make_plan, run_compare
from optlab.studies.study import StudySession
from optlab.studies.landscape import Options, landscape
from optlab.studies.sweep import make_plan as make_sweep_plan
from optlab.studies.sweep import run_sweep
from optlab.studies.variants import build_variants
from optlab.training.run import run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0"]
EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
# Inserted first in <head>: records script errors, console errors and blocked loads on <body>.
PROBE = """<script>
var errs = [];
window.addEventListener("error", function (e) { errs.push("error: " + e.message); }, true);
document.addEventListener("securitypolicyviolation", function (e) { errs.push("blocked: " + e.blockedURI); });
var realError = console.error;
console.error = function () { errs.push("console.error: " + [].join.call(arguments, " ")); realError.apply(console, arguments); };
window.addEventListener("load", function () { document.body.setAttribute("data-errors", JSON.stringify(errs)); });
</script>"""
CONFIG = """\
name: browser
seed: 1
data: {name: spiral, classes: 3, size: 120, val_size: 30, test_size: 60}
model: {name: mlp, hidden: [16], activation: relu}
loss: cross_entropy
optimizer: {name: sgd, lr: 0.1}
train: {batch_size: 30, epochs: 8, eval_every: 6, dtype: float64}
diagnostics: {update_ratios: true, histograms: [0, 24], boundary_every: 12, snapshot_every: 12}
"""


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        reason = "no Chromium to open report.html in: apt-get install -y chromium (README, 'Reports')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return found


def open_page(page: Path, tmp: Path) -> tuple[str, str]:
    """(the DOM after load, the browser's stderr) of ``page`` opened with the probe."""
    probe = page.with_name("probe-" + page.name)
    probe.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    profile = tmp / f"profile-{page.parent.name}"
    done = subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    probe.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


FIGURE_FILES = (".png", ".svg", ".pdf")


def check_against_files(dom: str, study: Path) -> None:
    """Every figure and every table the study wrote is on its page: each figure file of its
    directory is a figure captioned with its name, and each section of results.md (time to
    target, tuning budget, learning-rate search, ...) is a section of the page."""
    import html

    captions = [html.unescape(c) for c in re.findall(r"<figcaption>(.*?)</figcaption>", dom, re.S)]
    figures = sorted(p.name for p in study.iterdir() if p.suffix in FIGURE_FILES)
    assert figures, f"{study} wrote no figures"
    for name in figures:
        assert any(c.startswith(f"{name}:") or c == name for c in captions), f"{name} is not on the page"
    page = {html.unescape(title): body for title, body in
            re.findall(r"<section[^>]*><h2>(.*?)</h2>(.*?)</section>", dom, re.S)}
    text = (study / "results.md").read_text(encoding="utf-8")
    for title, body in re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        assert title in page, f"results.md's section {title!r} is not on the page ({list(page)})"
        if re.search(r"^\|", body, re.M):
            assert "<table" in page[title], f"results.md's table {title!r} is not a table on the page"


def check(dom: str, log: str, min_figures: int) -> None:
    errors = re.search(r'data-errors="([^"]*)"', dom)
    assert errors is not None, "the page's load event never fired"
    assert json.loads(errors.group(1).replace("&quot;", '"')) == []
    assert not re.search(r"CONSOLE.*(Uncaught|Error)", log), log[-2000:]
    assert 'data-charts="drawn"' in dom                         # the chart script ran to its end
    assert dom.count("<figure>") >= min_figures and dom.count("<table") >= 1
    assert dom.count('class="series"') >= 2                     # drawn curves (SVG paths) in the charts


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    browser()   # skip (or fail in CI) before spending time on runs
    tmp = tmp_path_factory.mktemp("browser")
    config = tmp / "browser.yaml"
    config.write_text(CONFIG)
    single = run(load_config(config), tmp / "runs", command=["optlab", "train", str(config), EVIL]).run_dir
    landscape(single, Options(grid=5, pictures=("path",)))      # its PCA path, for the time slider
    base, varied, variants = build_variants(config, ["sgd", "momentum"], None)
    # two seeds (bands), a learning-rate search and a target: its tuning budget and time to target
    # must reach the page
    plan = make_plan(variants, base, varied, seeds=2, tune="lr", grid="0.03:0.3:2", target=0.5,
                     source={"config": str(config), "overrides": []})
    study = run_compare(plan, tmp / "studies", StudySession.local(1, command=["optlab", "compare", EVIL])).path
    sweep = run_sweep(make_sweep_plan(config, ["optimizer.lr=0.05,0.2", "optimizer.name=sgd,adam"], grid=True),
                      tmp / "sweeps",
                      StudySession.local(1, command=["optlab", "sweep", EVIL], trial_reports=False)).path   # the CLI's default
    return {"run": single, "compare": study, "sweep": sweep, "tmp": tmp}


def test_run_page_renders_in_chromium(pages):
    dom, log = open_page(pages["run"] / "report.html", pages["tmp"])
    check(dom, log, min_figures=2)
    assert "<title>pwned" not in dom and "<img src=\"x\"" not in dom   # the user text stayed text
    assert "&lt;script&gt;document.title" in dom


def test_compare_page_renders_and_links_every_trial_page(pages):
    dom, log = open_page(pages["compare"] / "report.html", pages["tmp"])
    check(dom, log, min_figures=2)
    check_against_files(dom, pages["compare"])
    assert "Tuning budget" in dom and "Time to 50.0 % validation accuracy" in dom
    links = re.findall(r'href="(trials/[^"]+/report\.html)"', dom)
    assert len(links) == 4 and all((pages["compare"] / link).is_file() for link in links)
    assert "<th>variant</th>" in dom and "★" in dom             # the comparison's table, its best row


def test_sweep_page_renders_and_links_every_trial_without_a_dead_link(pages):
    """A sweep draws no trial pages unless asked: its leaderboard links each trial's directory."""
    dom, log = open_page(pages["sweep"] / "report.html", pages["tmp"])
    check(dom, log, min_figures=2)
    check_against_files(dom, pages["sweep"])
    assert "Tuning budget" in dom                               # a sweep over optimizer.name
    links = sorted(set(re.findall(r'href="(trials/[^"]+)"', dom)))
    assert links == [f"trials/t00{i}/" for i in range(4)] and all((pages["sweep"] / link).is_dir() for link in links)
    assert "Grid search, 4 combinations" in dom and "<th>optimizer.lr</th>" in dom


# ------------------------------------------------------------------------------------------------
# the pages used as a person would, through chromedriver (tests/webdriver.py)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def driver():
    from webdriver import chrome

    d = chrome()
    yield d
    d.quit()


def test_time_slider_moves_the_cursor_and_the_decision_boundary(pages, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from webdriver import not_blank, page_errors

    driver.get((pages["run"] / "report.html").as_uri())
    slider = driver.find_element(By.ID, "scrub-step")
    assert driver.find_element(By.CSS_SELECTOR, "label[for=scrub-step]").text == "step"

    def seen():
        return driver.execute_script("""
            var c = document.querySelector('.scrub-boundary canvas');
            return {step: document.getElementById('scrubber').getAttribute('data-step'),
                    boundary: c.getAttribute('data-step'), image: c.toDataURL(),
                    cursors: [].map.call(document.querySelectorAll('.timecursor'), function (l) { return +l.getAttribute('x1'); }),
                    bars: document.querySelectorAll('.ratio-bar').length,
                    hists: document.querySelectorAll('.scrub-hists svg').length,
                    pca: document.querySelector('.scrub-landscape svg').getAttribute('data-step'),
                    walked: document.querySelector('.scrub-landscape .walked').getAttribute('points').split(' ').length,
                    readout: document.querySelector('.scrub-readout').textContent};""")
    end = seen()
    slider.send_keys(Keys.HOME)
    start = seen()
    slider.send_keys(Keys.ARROW_RIGHT)
    next_ = seen()
    # 24 steps, evaluated every 6, the boundary every 12: at step 6 the page shows step 0's snapshot
    assert (start["step"], start["boundary"]) == ("0", "0") and end["step"] == end["boundary"] == "24"
    assert (next_["step"], next_["boundary"]) == ("6", "0")
    assert start["image"] != end["image"]                               # the regions changed with training
    assert len(end["cursors"]) == 2 and len(start["cursors"]) == 1     # step 0 is before the loss curve's first point
    assert start["cursors"][0] < next_["cursors"][-1] < end["cursors"][-1]   # the accuracy chart's cursor moved
    assert end["bars"] == 2 and start["bars"] == 0                      # no update recorded at step 0 yet
    assert end["hists"] == 1 and "validation accuracy" in end["readout"]
    assert (start["pca"], start["walked"], end["pca"], end["walked"]) == ("0", 1, "24", 3)   # snapshots 0, 12, 24
    assert not_blank(driver.find_element(By.CSS_SELECTOR, ".scrub-boundary canvas").screenshot_as_png)
    assert not_blank(driver.find_element(By.ID, "curves").screenshot_as_png)
    assert page_errors(driver) == []


def test_comparison_charts_are_linked_and_banded(pages, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from webdriver import page_errors

    driver.get((pages["compare"] / "report.html").as_uri())

    def shown(name):
        return len(driver.find_elements(By.CSS_SELECTOR, f'path.series[data-series="{name}"]'))
    assert shown("sgd") == shown("momentum") == 2                  # on both charts
    assert len(driver.find_elements(By.CSS_SELECTOR, "polygon.band")) >= 2   # ± std over the two seeds
    keys = driver.find_elements(By.CSS_SELECTOR, '.chart-key[data-series="sgd"]')
    keys[0].click()                                                  # hidden in the loss chart's legend ...
    assert shown("sgd") == 0 and shown("momentum") == 2              # ... is hidden on every chart
    assert all("off" in k.get_attribute("class") for k in keys)
    keys[1].click()
    ActionChains(driver).move_to_element(driver.find_elements(By.CSS_SELECTOR, '.chart-key[data-series="momentum"]')[1]) \
        .perform()                                                   # focused in one legend: stands out everywhere
    widths = {p.get_attribute("data-series") + str(i): p.get_attribute("stroke-width")
              for i, p in enumerate(driver.find_elements(By.CSS_SELECTOR, "path.series"))}
    assert sorted(v for k, v in widths.items() if k.startswith("momentum")) == ["3.5", "3.5"]
    assert page_errors(driver) == []
