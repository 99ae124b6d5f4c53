"""Screenshots of the interactive pages for docs/reports.md, and the explorer's redraw time.

    python benchmarks/page_screenshots.py            # writes docs/pages/*.png, prints the times

Drives Debian's chromium through chromedriver (selenium, the test extra), as the browser tests do:
the bowl explorer after a drag of the start point, the quickstart run's time slider at an early
step, and a bowl comparison's charts. Then the explorer's redraw time for the issue's case, 6
optimizers x 1 000 steps on Rosenbrock (median of 20 redraws, measured in the page with
performance.now(); the machine and its load are printed with it).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
OUT = REPO / "docs" / "pages"


def main() -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from webdriver import chrome, page_errors

    from optlab.config.loading import load_config
    from optlab.config.recipes import find
    from optlab.record.explorer import explorer_page
    from optlab.training.run import run

    tmp = Path(tempfile.mkdtemp())
    OUT.mkdir(exist_ok=True)
    d = chrome()
    d.set_window_size(1100, 1500)
    try:
        page = tmp / "bowl.html"
        page.write_text(explorer_page("bowl"), encoding="utf-8")
        d.get(page.as_uri())
        svg = d.find_element(By.CSS_SELECTOR, ".explorer-plot svg")
        ActionChains(d).move_to_element_with_offset(svg, -150, -70).click_and_hold().move_by_offset(10, 10) \
            .release().perform()
        d.find_element(By.ID, "explorer-box").screenshot(str(OUT / "explorer.png"))

        rd = run(load_config(find("quickstart").path), tmp / "runs").run_dir
        d.get((rd / "report.html").as_uri())
        slider = d.find_element(By.ID, "scrub-step")
        slider.send_keys(Keys.HOME, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        d.find_element(By.ID, "time").screenshot(str(OUT / "time_slider.png"))
        assert page_errors(d) == [], page_errors(d)

        page.write_text(explorer_page("rosenbrock", steps=1000), encoding="utf-8")
        d.get(page.as_uri())
        times = [d.execute_script("return window.optlabExplorer.redraw();") for _ in range(20)]
        print(f"explorer redraw, 6 optimizers x 1000 steps on rosenbrock: median {statistics.median(times):.1f} ms "
              f"(min {min(times):.1f}, max {max(times):.1f}; {d.capabilities.get('browserVersion')} headless, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    finally:
        d.quit()
    for f in sorted(OUT.glob("*.png")):
        print(f"{f.relative_to(REPO)}: {f.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
