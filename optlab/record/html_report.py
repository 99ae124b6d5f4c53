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
from html import unescape as html_unescape
from pathlib import Path

from optlab.record.contained import Outside, inside
from optlab.record.html_page import (
    charts_html,
    esc,
    facts_table,
    figure,
    file_link,
    page,
    preformatted,
    section,
    status_badge,
    table,
)
from optlab.record.rundir import RunDir, question_of
from optlab.record.words import count

INFO_KEYS = [("started", "started"), ("ended", "ended"), ("optlab", "optlab"), ("numpy", "numpy"),
             ("python", "python"), ("host", "host"), ("git_commit", "git commit")]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


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


def _explorer(data: dict | None) -> str:
    if data is None:
        return ""
    from optlab.record.explorer import explorer_section

    return explorer_section(data)


def _scrubber(data: dict | None) -> str:
    if data is None:
        return ""
    from optlab.record.scrubber import scrubber_html

    return scrubber_html(data)


def _config(path: Path) -> str:
    config = path / "config.yaml"
    if not config.is_file():
        return ""
    return section("Resolved config", "<details><summary>config.yaml (every default filled in: re-running it "
                                      "repeats the run)</summary>" + preformatted(config.read_text(encoding="utf-8"))
                   + "</details>", "config")


def _files(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith("."))
    return section("Files", "<p>" + " · ".join(file_link(path, n) for n in names) + "</p>", "files")


def run_page(path: Path, status: str, summary: dict | None, accuracy: list[list[str]] | None,
             facts: list[tuple[str, str]], items: list, charts: list[dict], explorer: dict | None = None,
             scrub: dict | None = None) -> str:
    """One run: ``accuracy`` rows (split, final, peak, step of peak) and ``facts`` from
    optlab.record.run_report; ``items`` the figures (name, caption, svg); ``explorer`` a surface
    run's explorer data (optlab.record.explorer), ``scrub`` a data run's time slider data
    (optlab.record.scrubber)."""
    meta = _read_json(path / "meta.json")
    body = [_header(path.name, status, meta.get("question"), _command(meta.get("command")), "optlab run")]
    results = ""
    if accuracy:
        results += table(["split", "final accuracy", "peak accuracy", "step of peak"], accuracy)
    results += facts_table(facts) if facts else "<p class=\"muted\">No summary yet: the run has not ended.</p>"
    if meta.get("error"):
        results += f"<p>Error: <code>{esc(meta['error'])}</code></p>"
    body += [section("Results", results, "results"), _charts(charts), _scrubber(scrub), _explorer(explorer),
             _figures(items), _config(path)]
    info = [(label, str(meta[key])) for key, label in INFO_KEYS if meta.get(key) is not None]
    if meta.get("resumed"):
        info.append(("resumed", ", ".join(f"at step {r['at_step']} ({r['time']})" for r in meta["resumed"])))
    body += [section("Run", facts_table(info), "run"), _files(path)]
    return page(f"{path.name} — optlab", body, charts, explorer=explorer is not None, scrubber=scrub is not None)


def noted_tables(sections) -> list[tuple[str, str]]:
    """``(title, note, headers, rows)`` sections (a study's time to target, its tuning budget: the
    tables results.md has) as ``(title, HTML)``."""
    return [(title, f"<p>{esc(note)}</p>" + table(headers, rows)) for title, note, headers, rows in sections]


def study_page(path: Path, kind: str, manifest: dict, intro: str, tables: list[tuple[str, str]],
               items: list, charts: list[dict], trials: str, explorer: dict | None = None) -> str:
    """A comparison or a sweep: ``tables`` (title, HTML) in order, then curves, figures, the
    trials (HTML list of links to their pages) and the base config."""
    status = manifest.get("status")
    question = manifest.get("question") or question_of(manifest.get("config"))   # a manifest without "question": from its config file
    body = [_header(path.name, status, question, _command(manifest.get("command")), kind),
            f"<p>{esc(intro)}</p>"]
    body += [section(title, html) for title, html in tables]
    body += [_charts(charts), _explorer(explorer), _figures(items), section("Trials", trials, "trials"),
             _config(path), _files(path)]
    return page(f"{path.name} — optlab {kind}", body, charts, explorer=explorer is not None)


def compare_page(path: Path, manifest: dict, results: tuple, tune: tuple | None, statuses: list[list[str]],
                 items: list, charts: list[dict], explorer: dict | None = None, extra: list[tuple] = ()) -> str:
    """A comparison: ``results`` = (headers, rows, best row) of its table (optlab.record.compare_report),
    ``tune`` = (headers, rows, notes) of its learning-rate search or None, ``statuses`` each
    variant's trials' statuses, ``extra`` its other tables (:func:`noted_tables`); links to every
    trial's page."""
    headers, rows, best = results
    rows = [list(r) for r in rows]
    if best is not None:
        rows[best][0] += " ★"
    seeds = manifest["seeds"]
    varied = "the optimizer" if manifest["varied"] == "optimizer" else manifest["varied"]
    intro = (f"Compared: {varied}, over {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
             f"({', '.join(map(str, seeds))}); mean ± sample std over seeds; accuracies on the validation set, "
             "except test acc; ★ marks the best variant (final validation accuracy, or final loss without one).")
    tables = [("Results", table(headers, rows, best))]
    if tune is not None:
        t_headers, t_rows, notes = tune
        spec = manifest["tune"]
        tables.append(("Learning-rate search",
                       f"<p>Each variant trained once per rate (seed {esc(spec['seed'])}), picked by "
                       f"{esc(spec['selection'])}; the chosen rate in bold.</p>"
                       + table(t_headers, [[_bold(c) for c in r] for r in t_rows], raw_columns=range(1, len(t_headers)))
                       + ("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>" if notes else "")))
    tables += noted_tables(extra)
    trials = "<ul>"
    for entry, status in zip(manifest["variants"], statuses):
        links = ", ".join(f"{trial_link(path, d)} ({esc(s)})" for d, s in zip(entry["trials"], status))
        trials += f"<li>{esc(entry['label'])}: {links or 'no trials'}</li>"
    for entry in manifest["variants"]:
        if entry.get("tune_trials"):
            trials += (f"<li>{esc(entry['label'])}, learning-rate search: "
                       + ", ".join(trial_link(path, t["dir"], f"{t['lr']:.3g}") for t in entry["tune_trials"])
                       + "</li>")
    trials += "</ul>"
    return study_page(path, "optlab compare", manifest, intro, tables, items, charts, trials, explorer)


def sweep_page(path: Path, manifest: dict, how: str, headers: list[str], rows: list[list[str]], dirs: list[str],
               items: list, charts: list[dict], extra: list[tuple] = ()) -> str:
    """A sweep: how its trials were chosen (``how``, in words), the searched parameters, the
    leaderboard (optlab.record.sweep_report), each trial's name a link to its page, and ``extra``
    tables (:func:`noted_tables`: the tuning budget)."""
    n = len(manifest["trials"])
    intro = (f"{how[0].upper() + how[1:]}; every trial trains with seed {manifest['training_seed']}. Ranked by "
             "final validation accuracy (ties: lower final validation loss); the test set is not used in a search.")
    params = table(["parameter", "searched"], [[p["key"], p["spec"] + (" (log scale)" if p["log"] else "")]
                                               for p in manifest["params"]])
    linked = [[esc(c) for c in r] for r in rows]
    for r, d in zip(linked, dirs):
        r[1] = trial_link(path, d, Path(d).name)
    board = table(headers, linked, best=0 if rows and rows[0][-1] == "completed" else None,
                  raw_columns=range(len(headers)))
    if manifest.get("status") != "completed":
        board += f"<p>Status: {esc(manifest.get('status'))}; {len(rows)} of {count(n, 'trial')} started.</p>"
    trials = ("<p>Each trial's name in the leaderboard links to its own page where it has one (a sweep draws "
              "them with <code>--trial-figures</code>, or <code>optlab report TRIAL_DIR</code> one at a time, then "
              "<code>optlab report</code> of the sweep to link it), else to its directory.</p>")
    return study_page(path, "optlab sweep", manifest, intro,
                      [("Searched", params), ("Leaderboard", board), *noted_tables(extra)], items, charts, trials)


def _bold(cell: str) -> str:
    """results.md marks the chosen rate **like this**; here it is <strong>."""
    return f"<strong>{esc(cell[2:-2])}</strong>" if cell.startswith("**") and cell.endswith("**") else esc(cell)


def trial_link(study: Path, trial_dir: str, text: str | None = None) -> str:
    """A link to a trial's report.html, relative to the study's page, or to its directory while
    it has none (a sweep's trials draw their pages only when asked): never a dead link."""
    text = text or Path(str(trial_dir)).name
    has_page = (Path(study) / f"{trial_dir}/report.html").is_file()
    return file_link(study, str(trial_dir), text, "/report.html" if has_page else "/")


def relink_trials(study: Path) -> None:
    """Point the study page's links at the trial pages drawn since it was written (a study draws
    its trials' reports after its own: optlab.record.trial_reports): a link ``DIR/`` whose
    ``DIR/report.html`` now exists becomes ``DIR/report.html``; the rest of the page is as it was."""
    import re

    page = Path(study) / "report.html"
    if not page.is_file():
        return
    html = page.read_text(encoding="utf-8")

    from urllib.parse import unquote

    def to_page(m: re.Match) -> str:
        target = m.group(1)
        name = unquote(html_unescape(target))
        try:
            inside(study, name)
        except Outside:
            return m.group(0)
        return f'href="{target}/report.html"' if (Path(study) / name / "report.html").is_file() else m.group(0)

    relinked = re.sub(r'href="([^"#?:]+)/"', to_page, html)
    if relinked != html:
        RunDir(study).write_text("report.html", relinked)
