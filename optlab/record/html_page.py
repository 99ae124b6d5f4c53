"""The pieces of report.html: one self-contained, offline page (no network, no CDN, no server):
its CSS and script inline, its figures inline SVG, its links relative (a comparison's trials).

Every piece of text that comes from a user (run and variant names, config values, the command
line, error messages) goes through :func:`esc`; embedded JSON through :func:`json_script`, which
also escapes ``<`` so that no value can close the script element. matplotlib's SVG escapes its
own text. So a name such as ``<script>alert(1)</script>`` shows as text and runs nothing.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Iterable

from optlab.record.explorer_js import EXPLORER_CSS, EXPLORER_JS
from optlab.record.html_chart import CHART_JS
from optlab.record.rules_js import rules_js
from optlab.record.scrubber_js import SCRUBBER_CSS, SCRUBBER_JS

CSS = """
:root { --fg: #1b1b1b; --muted: #5a5a5a; --line: #d8d8d8; --accent: #0072B2; --best: #fff4d6; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; word-break: break-word; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
.question { font-size: 1.1rem; white-space: pre-wrap; margin: .4rem 0; }
code, pre { font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; border-radius: 4px; }
.command { background: #f6f6f6; padding: .4rem .6rem; border-radius: 4px; display: block; word-break: break-all; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .95rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .7rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: var(--best); font-weight: 600; }
.status { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; background: #e8e8e8; }
.status.completed { background: #d6f0e4; } .status.diverged, .status.failed, .status.died { background: #f9d9cc; }
.status.interrupted, .status.running { background: #fbecc9; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .9rem; }
.muted { color: var(--muted); }
.chart { margin: 1rem 0 2rem; position: relative; }
.chart-svg { width: 100%; height: auto; max-width: 900px; font-size: 12px; user-select: none; }
.chart-svg .grid { stroke: #e6e6e6; } .chart-svg .frame { fill: none; stroke: #999; }
.chart-svg .cursor { stroke: #777; stroke-dasharray: 3 3; } .chart-svg .timecursor { stroke: #d55e00; stroke-width: 1.5; } .chart-svg .zoomband { fill: rgba(0,114,178,.12); }
.chart-svg .chart-title { font-size: 14px; font-weight: 600; }
.chart-legend { display: flex; flex-wrap: wrap; gap: .3rem .8rem; font-size: .9rem; }
.chart-key { border: 0; background: none; cursor: pointer; padding: .1rem .2rem; font: inherit; }
.chart-key.off { opacity: .35; text-decoration: line-through; }
.swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .35rem; vertical-align: -.1rem; border-radius: 2px; }
.chart-tip { display: none; position: absolute; top: 2.2rem; right: 1rem; background: rgba(255,255,255,.95);
             border: 1px solid var(--line); padding: .3rem .5rem; font-size: .85rem; pointer-events: none; }
nav a { margin-right: .8rem; }
"""


def esc(value: object) -> str:
    """``value`` as HTML text: &, <, >, " and ' escaped."""
    return html.escape(str(value), quote=True)


_NUMBER = re.compile(r"^[−+-]?[\d.]+(e[+-]?\d+)?( ± [\d.e+-]+)?( %)?$")


def table(headers: list[str], rows: Iterable[list[str]], best: int | None = None,
          raw_columns: Iterable[int] = ()) -> str:
    """An HTML table; numeric cells right-aligned, row ``best`` marked. ``raw_columns``: cells
    already HTML (links built here from escaped parts)."""
    raw = set(raw_columns)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            text = cell if j in raw else esc(cell)
            cls = ' class="num"' if _NUMBER.match(str(cell).strip()) else ""
            cells.append(f"<td{cls}>{text}</td>")
        mark = ' class="best"' if i == best else ""
        body.append(f"<tr{mark}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def facts_table(pairs: Iterable[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs) + "</table>"


def link(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def file_link(folder: Path, name: str, text: str | None = None, suffix: str = "") -> str:
    """A link to ``name`` + ``suffix`` in the page's ``folder``: a relative path (every character
    but ``/`` percent-encoded, so a file named ``javascript:alert(1)`` is a file, never a scheme)
    to something that exists inside ``folder``; just the text when it does not."""
    from urllib.parse import quote

    from optlab.record.contained import Outside, inside

    text = name if text is None else text
    try:
        target = inside(folder, f"{name}{suffix}".rstrip("/") or ".")
    except Outside:
        return esc(text)
    if not (target.exists() or target.is_symlink()):
        return esc(text)
    return link(quote(f"{name}{suffix}", safe="/"), text)   # ':' encoded: the first segment is no scheme


def status_badge(status: str) -> str:
    return f'<span class="status {esc(status)}">{esc(status)}</span>'


def figure(svg: str, caption: str) -> str:
    """An inline SVG figure (matplotlib's, its XML prologue removed)."""
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def section(title: str, body: str, anchor: str | None = None) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def preformatted(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def json_script(data: object, ident: str) -> str:
    """JSON data for the page's script; ``<`` escaped so that nothing in it can end the element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="{esc(ident)}">{text}</script>'


def charts_html(specs: list[dict]) -> str:
    """Placeholders for the interactive charts (drawn by CHART_JS from the page's chart data)."""
    return "".join(f'<div class="chart" data-chart="{i}"></div>' for i in range(len(specs)))


# an inline script the browser would run: any <script> but a data block (type="application/json")
_SCRIPT = re.compile(r"<script(?![^>]*\btype=\"application/json\")(?:\s[^>]*)?>(.*?)</script>", re.S | re.I)


def script_hashes(document: str) -> list[str]:
    """CSP source expressions (``'sha256-…'``, CSP level 2) for every inline script of ``document``,
    exactly as written between its tags: whatever scripts a page carries run, and nothing else
    does (no injected script, no ``javascript:`` URL, no inline event handler)."""
    import base64
    import hashlib

    digests = {base64.b64encode(hashlib.sha256(m.group(1).encode("utf-8")).digest()).decode()
               for m in _SCRIPT.finditer(document)}
    return [f"'sha256-{d}'" for d in sorted(digests)]


def page(title: str, body: list[str], charts: list[dict], explorer: bool = False, scrubber: bool = False) -> str:
    """The whole document; one inline script: the chart renderer when there are charts to draw,
    the time slider's (optlab.record.scrubber) when ``scrubber``, the surface explorer's (its rules
    translated from the engine) when ``explorer``. Its CSP allows exactly the page's own inline
    scripts, by hash (:func:`script_hashes`, computed from the page as written), and nothing from
    elsewhere."""
    code = (CHART_JS if charts else "") + (SCRUBBER_JS if scrubber else "") + (rules_js() + EXPLORER_JS if explorer else "")
    data = json_script(charts, "chart-data") if charts else ""
    content = "".join(body) + data + (f"<script>{code}</script>" if code else "")
    scripts = " ".join(script_hashes(content)) or "'none'"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            f"style-src 'unsafe-inline'; script-src {scripts}; img-src data:; base-uri 'none'; form-action 'none'\">"
            f"<title>{esc(title)}</title><style>{CSS}{EXPLORER_CSS if explorer else ''}{SCRUBBER_CSS if scrubber else ''}</style></head><body>"
            + content + "</body></html>\n")
