"""The figures of one directory: each written as a file in ``plots.format`` (through
:class:`optlab.record.rundir.RunDir`) and kept as inline SVG for report.html, drawn once in
optlab's style (optlab.record.style).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from optlab.config.schema import PlotsConfig
from optlab.record.rundir import RunDir

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def svg_text(fig) -> str:
    """The figure as an SVG element (no XML prologue, no date: the same figure, the same text)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return _PROLOGUE.sub("", buf.getvalue(), count=1)


@dataclass
class FigureSet:
    """Collects a directory's figures. ``files=False`` (``optlab report --html``) leaves the
    figure files as they are and only keeps the SVG for the page."""

    rd: RunDir
    opts: PlotsConfig
    files: bool = True
    page: bool = True
    items: list[tuple[str, str, str]] = field(default_factory=list)   # (file name, caption, svg)

    def add(self, stem: str, fig, caption: str = "") -> None:
        name = f"{stem}.{self.opts.format}"
        if self.files:
            self.rd.write_figure(name, fig)
        if self.page:
            svg = self.rd.read_text(name) if self.files and self.opts.format == "svg" else svg_text(fig)
            self.items.append((name, caption, _PROLOGUE.sub("", svg, count=1)))
