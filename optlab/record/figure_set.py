"""The figures of one directory: each written as a file in ``plots.format`` (through
:class:`optlab.record.rundir.RunDir`) and kept for report.html (that file embedded: a PNG as an
image, an SVG inline), drawn once in optlab's style (optlab.record.style).

A figure is also rewritten in every other format the directory already holds it in: after
``optlab report DIR --format svg`` a later ``optlab report DIR plots.x=epochs`` redraws both
``loss.png`` and ``loss.svg``, never leaving one of them showing other settings.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field

from optlab.config.schema import PlotsConfig
from optlab.record.rundir import RunDir
from optlab.record.style import plain_ticks

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
FORMATS = ("png", "svg", "pdf")        # plots.format's choices


_PATH_DATA = re.compile(r'\sd="([^"]*)"')
_DECIMAL = re.compile(r"(-?\d+\.\d)\d+")
_CURVES = re.compile(r"[CcQqSsTtAaHhVv]")


def compact(svg: str) -> str:
    """The page's copy of a figure: path coordinates to 0.1 pt (a tenth of a point at the
    figure's size: invisible) on one line, about half the bytes of matplotlib's 6 decimals."""
    def shorten(match: re.Match) -> str:
        data = " ".join(_DECIMAL.sub(r"\1", match.group(1)).split())
        if not _CURVES.search(data):   # only moves and lines: a pair after a lineto is a lineto (SVG 1.1, 8.3.2)
            data = data.replace(" L ", " ")
        return f' d="{data}"'
    return _PATH_DATA.sub(shorten, svg)


def svg_text(fig) -> str:
    """The figure as an SVG element (no XML prologue, no date: the same figure, the same text)."""
    buf = io.StringIO()
    plain_ticks(fig)
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return _PROLOGUE.sub("", buf.getvalue(), count=1)


@dataclass
class FigureSet:
    """Collects a directory's figures. ``files=False`` (``optlab report --html``) leaves the
    figure files as they are and only keeps each figure's copy for the page (drawn as SVG)."""

    rd: RunDir
    opts: PlotsConfig
    files: bool = True
    page: bool = True
    items: list[tuple[str, str, str]] = field(default_factory=list)   # (file name, caption, page markup)
    failed: list[str] = field(default_factory=list)   # "name: why" of each figure that could not be drawn

    def add(self, stem: str, fig, caption: str = "") -> None:
        """Write ``fig`` and keep it for the page; a figure that fails to draw is reported (in
        :attr:`failed` and in its place on the page), and the directory's other figures and its
        page are still written."""
        name = f"{stem}.{self.opts.format}"
        try:
            self._add(name, fig, caption)
        except (ValueError, RuntimeError, OverflowError) as exc:   # matplotlib's drawing errors
            self.fail(stem, caption, exc)

    def fail(self, stem: str, caption: str, exc: BaseException) -> None:
        """Report a figure that could not be drawn: in :attr:`failed`, and in its place on the page."""
        name = f"{stem}.{self.opts.format}"
        why = " ".join(str(exc).split())[:300] or type(exc).__name__
        self.failed.append(f"{name}: {why}")
        if self.page:
            from optlab.record.html_page import esc

            self.items.append((name, caption, f'<p class="muted">{esc(name)} could not be drawn: {esc(why)}</p>'))

    def _add(self, name: str, fig, caption: str) -> None:
        if self.files:
            self.rd.write_figure(name, fig)
            stem = name.rsplit(".", 1)[0]
            for fmt in FORMATS:
                if fmt != self.opts.format and (self.rd.path / f"{stem}.{fmt}").is_file():
                    self.rd.write_figure(f"{stem}.{fmt}", fig)
            # keep the layout the file was drawn with: the page's copy skips the layout pass
            # (constrained layout is a large part of a draw)
            fig.set_layout_engine("none")
        if self.page:
            self.items.append((name, caption, self._page_copy(name, fig)))

    def _page_copy(self, name: str, fig) -> str:
        """The figure's markup on report.html: the file just written, embedded (a PNG as a data URI,
        an SVG inline), so a figure is drawn once; a PDF, or no file, is drawn again as SVG."""
        if self.files and self.opts.format == "png":
            data = base64.b64encode(self.rd.path.joinpath(name).read_bytes()).decode("ascii")
            return f'<img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
        svg = self.rd.read_text(name) if self.files and self.opts.format == "svg" else svg_text(fig)
        return compact(_PROLOGUE.sub("", svg, count=1))
