"""The surface explorer in a real Chromium (tests/webdriver.py): sliders moved with the keyboard,
values typed, the start point dragged with the mouse; every path the page recomputes equals
``optlab train`` of the same settings (the engine's run, metrics.csv), for every optimizer on every
surface, 200 steps, within 1e-12 relative; a diverging path is shown as diverged, at the engine's step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from webdriver import chrome, not_blank, page_errors

from optlab.config.loading import load_config
from optlab.engine.surfaces import OBJECTIVES
from optlab.record.explorer import explorer_page
from optlab.record.rules_js import elementwise
from optlab.record.rundir import read_metrics
from optlab.training.run import run

STEPS = 200


@pytest.fixture(scope="module")
def driver():
    d = chrome()
    yield d
    d.quit()


def engine_path(tmp: Path, surface: str, path: dict, start, steps: int):
    """(x, y, summary) of ``optlab train``'s run of one explorer path's settings."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / f"{surface}-{path['optimizer']}.yaml"
    optimizer = {"name": path["optimizer"], **path["hyper"]}
    config.write_text(json.dumps({"name": "explore", "model": {"name": "surface", "function": surface, "start": start},
                                  "optimizer": optimizer, "train": {"iterations": steps, "dtype": "float64"}}))
    cfg = load_config(config)
    assert cfg.optimizer.model_dump(include=set(path["hyper"])) == path["hyper"]   # the same floats, bit for bit
    result = run(cfg, tmp / "runs", render=False, dir_name=config.stem)
    m = read_metrics(result.run_dir / "metrics.csv")
    return np.asarray(m["x"]), np.asarray(m["y"]), result.summary


def assert_same_paths(state: dict, tmp: Path) -> float:
    """Every path of the page's state equals the engine's; returns the largest relative difference."""
    worst = 0.0
    for p in state["paths"]:
        x, y, summary = engine_path(tmp, state["surface"], p, state["start"], state["steps"])
        page = np.array([p["x"], p["y"]], dtype=float)
        assert page.shape == (2, len(x)), (p["label"], page.shape, len(x))
        scale = np.max(np.abs(np.r_[x, y][np.isfinite(np.r_[x, y])]))
        diff = np.abs(page - np.array([x, y]))
        rel = float(np.max(diff / np.maximum(np.abs(np.array([x, y])), scale * 1e-3)))
        assert rel <= 1e-12, (state["surface"], p["label"], rel)
        assert (p["diverged"] is not None) == (summary["status"] == "diverged")
        if p["diverged"] is not None:
            assert p["diverged"] == summary["steps"]
        worst = max(worst, rel)
    return worst


def open_explorer(driver, tmp: Path, surface: str, **kw) -> None:
    page = tmp / f"{surface}.html"
    page.write_text(explorer_page(surface, **kw), encoding="utf-8")
    driver.get(page.as_uri())
    assert driver.execute_script("return document.body.getAttribute('data-explorer')") == "drawn"


def state(driver) -> dict:
    return driver.execute_script("return window.optlabExplorer.state();")


def test_bowl_sliders_drag_and_divergence_match_the_engine(driver, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_explorer(driver, tmp_path, "bowl")
    before = state(driver)
    steps = driver.find_element(By.CSS_SELECTOR, "input[aria-label='steps (number)']")
    steps.clear()
    steps.send_keys(str(STEPS), Keys.TAB)
    sliders = driver.find_elements(By.CSS_SELECTOR, "input[type=range][data-control*=':']")
    assert len(sliders) == sum(len(p["hyper"]) for p in before["paths"])   # one per hyper-parameter
    for k, slider in enumerate(sliders):                     # every slider moves, by keyboard
        slider.send_keys(Keys.ARROW_LEFT if k % 2 else Keys.ARROW_RIGHT)
    svg = driver.find_element(By.CSS_SELECTOR, ".explorer-plot svg")
    ActionChains(driver).move_to_element_with_offset(svg, -120, -60).click_and_hold() \
        .move_by_offset(30, 20).release().perform()
    after = state(driver)
    assert after["steps"] == STEPS and after["start"] != before["start"]
    assert OBJECTIVES["bowl"].window[0] < after["start"][0] < 0 < after["start"][1]   # up and left of the centre
    for p, q in zip(before["paths"], after["paths"]):
        assert p["hyper"] != q["hyper"]
    assert assert_same_paths(after, tmp_path) <= 1e-12
    assert not_blank(driver.find_element(By.CSS_SELECTOR, ".explorer-plot").screenshot_as_png)

    sgd = driver.find_element(By.CSS_SELECTOR, "fieldset[data-path='0'] input[type=number]")
    sgd.clear()
    sgd.send_keys("5", Keys.TAB)                             # far past the stability limit lr < 2/λmax = 1
    diverging = state(driver)
    assert diverging["paths"][0]["diverged"] is not None
    assert "diverged at step" in driver.find_element(By.CSS_SELECTOR, "fieldset[data-path='0'] .pathstatus").text
    assert_same_paths({**diverging, "paths": diverging["paths"][:1]}, tmp_path / "diverging")
    marks = {m.get_attribute("title"): float(m.get_attribute("data-value"))
             for m in driver.find_elements(By.CSS_SELECTOR, ".mark")}
    assert marks["lr < 2/λmax = 1"] == 1.0 and any(t.startswith("critical μ (λmin)") for t in marks)
    assert float(driver.find_element(By.ID, "explorer-box").get_attribute("data-redraw-ms")) >= 0
    assert page_errors(driver) == []


@pytest.mark.parametrize("surface", ["rosenbrock", "beale", "saddle"])
def test_every_optimizer_on_every_surface_matches_the_engine(driver, tmp_path, surface):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_explorer(driver, tmp_path, surface, steps=STEPS)
    for slider in driver.find_elements(By.CSS_SELECTOR, "input[type=range][data-control$=':lr']"):
        slider.send_keys(Keys.ARROW_LEFT)
    s = state(driver)
    assert len(s["paths"]) == len(elementwise()) and s["steps"] == STEPS
    assert_same_paths(s, tmp_path)
    assert page_errors(driver) == []


def test_redraw_of_six_optimizers_times_1000_steps(driver, tmp_path):
    """The issue's budget, 50 ms a redraw, is for a person's machine; here only that it finishes
    and reports its time (no timed assertion: the shared test machine's load varies)."""
    open_explorer(driver, tmp_path, "rosenbrock", steps=1000)
    ms = driver.execute_script("return window.optlabExplorer.redraw();")
    assert ms > 0 and len(state(driver)["paths"][0]["x"]) == 1001
