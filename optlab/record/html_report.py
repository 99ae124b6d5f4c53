"""report.html of a run, a comparison and a sweep: what the directory holds, on one offline page
(the pieces and their escaping are in optlab.record.html_page).

Each page gives the question and the command, the results (accuracy table; a comparison's mean ±
std table; a sweep's leaderboard), interactive curves (optlab.record.html_chart), every figure as
inline SVG, the resolved config and the run's facts (versions, host, times). A comparison's and a
sweep's page link to each trial's own page, written by optlab.record.run_report.render_run.

The report modules call these builders with tables they have already computed (this module
imports none of them: they import it).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from optlab.record.html_page import (
    charts_html,
    esc,
    facts_table,
    figure,
    link,
    page,
    preformatted,
    section,
    status_badge,
    table,
)

INFO_KEYS = [("started", "started"), ("ended", "ended"), ("optlab", "optlab"), ("numpy", "numpy"),
             ("python", "python"), ("host", "host"), ("git_commit", "git commit")]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def config_question(path: str | Path | None) -> str | None:
    """The comment that opens a config file (a shipped config states its question, its source and
    its command there), or None."""
    if not path:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    out = []
    for line in lines:
        if not line.startswith("#"):
            break
        out.append(line[1:].strip())
    return "\n".join(out).strip() or None


def _command(command) -> str:
    return " ".join(shlex.quote(str(c)) for c in command) if isinstance(command, list) else str(command or "")


def _header(title: str, status: str | None, question: str | None, command: str, kind: str) -> str:
    badge = f" {status_badge(status)}" if status else ""
    out = f"<header><h1>{esc(title)}{badge}</h1><p class=\"muted\">{esc(kind)}</p>"
    if question:
        out += f"<p class=\"question\">{esc(question)}</p>"
    if command:
        out += f"<p>Command:</p><code class=\"command\">{esc(command)}</code>"
    return out + "</header>"


def _figures(items: list[tuple[str, str, str]]) -> str:
    if not items:
        return ""
    body = "".join(figure(svg, f"{name}: {caption}" if caption else name) for name, caption, svg in items)
    return section("Figures", body, "figures")


def _charts(charts: list[dict]) -> str:
    if not charts:
        return ""
    return section("Curves", "<p class=\"muted\">Hover for values, click a legend entry to hide or show it, "
                             "drag across a plot to zoom, double-click to zoom out.</p>" + charts_html(charts),
                   "curves")


def _config(path: Path) -> str:
    config = path / "config.yaml"
    if not config.is_file():
        return ""
    return section("Resolved config", "<details><summary>config.yaml (every default filled in: re-running it "
                                      "repeats the run)</summary>" + preformatted(config.read_text(encoding="utf-8"))
                   + "</details>", "config")


def _files(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return section("Files", "<p>" + " · ".join(link(n, n) for n in names) + "</p>", "files")


def run_page(path: Path, status: str, summary: dict | None, accuracy: list[list[str]] | None,
             facts: list[tuple[str, str]], items: list, charts: list[dict]) -> str:
    """One run: ``accuracy`` rows (split, final, peak, step of peak) and ``facts`` from
    optlab.record.run_report; ``items`` the figures (name, caption, svg)."""
    meta = _read_json(path / "meta.json")
    body = [_header(path.name, status, meta.get("question"), _command(meta.get("command")), "optlab run")]
    results = ""
    if accuracy:
        results += table(["split", "final accuracy", "peak accuracy", "step of peak"], accuracy)
    results += facts_table(facts) if facts else "<p class=\"muted\">No summary yet: the run has not ended.</p>"
    if meta.get("error"):
        results += f"<p>Error: <code>{esc(meta['error'])}</code></p>"
    body += [section("Results", results, "results"), _charts(charts), _figures(items), _config(path)]
    info = [(label, str(meta[key])) for key, label in INFO_KEYS if meta.get(key) is not None]
    if meta.get("resumed"):
        info.append(("resumed", ", ".join(f"at step {r['at_step']} ({r['time']})" for r in meta["resumed"])))
    body += [section("Run", facts_table(info), "run"), _files(path)]
    return page(f"{path.name} — optlab", body, charts)


def study_page(path: Path, kind: str, manifest: dict, intro: str, tables: list[tuple[str, str]],
               items: list, charts: list[dict], trials: str) -> str:
    """A comparison or a sweep: ``tables`` (title, HTML) in order, then curves, figures, the
    trials (HTML list of links to their pages) and the base config."""
    status = manifest.get("status")
    question = manifest.get("question") or config_question(manifest.get("config"))
    body = [_header(path.name, status, question, _command(manifest.get("command")), kind),
            f"<p>{esc(intro)}</p>"]
    body += [section(title, html) for title, html in tables]
    body += [_charts(charts), _figures(items), section("Trials", trials, "trials"), _config(path), _files(path)]
    return page(f"{path.name} — optlab {kind}", body, charts)


def trial_link(study: Path, trial_dir: str, text: str | None = None) -> str:
    """A link to a trial's report.html, relative to the study's page."""
    return link(f"{trial_dir}/report.html", text or Path(trial_dir).name)
