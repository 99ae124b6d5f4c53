"""The transcripts in docs/gradcheck.md are what optlab gradcheck prints: each table row quoted
there (part, tensor, elements checked, kinks, every error, verdict) and each closing verdict is
compared with a fresh run of the same command (its --json), so a change to the check that moves a
number fails here until the page is re-made.

Errors at float64's rounding level (below ROUNDING) are the sums' rounding, which depends on the
kernel OpenBLAS picks for the machine's processor (2.9e-09 on one, 3.6e-09 on another for the same
command): those are compared to within a factor of ROUNDING_FACTOR, every other cell exactly."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import REPO
from typer.testing import CliRunner

from optlab.cli import app
from optlab.engine import layers

DOC = REPO / "docs" / "gradcheck.md"
CLEAN = ["quickstart", "--method", "both", "--samples", "20"]
BROKEN = ["quickstart", "--samples", "20"]     # with Linear.backward's weight gradient 1 % too large
ZEROS = ["quickstart", "model.init=zeros", "model.hidden=[10]", "regularization.l2=0", "--samples", "10"]


def transcripts() -> list[list[str]]:
    """The lines of each ``` block of the page that holds a table row."""
    blocks = re.findall(r"```\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [b.splitlines() for b in blocks if "│" in b]


def rows(lines: list[str]) -> list[dict]:
    """The table rows of a transcript, the part carried down to its continuation rows; '...' rows skipped."""
    out, part = [], None
    for line in lines:
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0] == "..." or not cells[1]:
            continue
        part = cells[0] or part
        out.append({"part": part, "cells": cells})
    return out


ROUNDING, ROUNDING_FACTOR = 1e-7, 3.0


def same_cell(quoted: str, printed: str) -> bool:
    try:
        a, b = float(quoted), float(printed)
    except ValueError:
        return quoted == printed
    if max(a, b) < ROUNDING and min(a, b) > 0:
        return max(a, b) / min(a, b) <= ROUNDING_FACTOR
    return quoted == printed


def check(args: list[str], lines: list[str]) -> None:
    result = CliRunner().invoke(app, ["gradcheck", *args, "--json"])
    data = json.loads(result.stdout)
    tensors = {(p["part"], t["tensor"]): t for p in data["parts"] for t in p["tensors"]}
    methods = data["methods"]
    quoted = rows(lines)
    assert quoted, "no table rows in the transcript"
    for row in quoted:
        t = tensors[(row["part"], row["cells"][1])]
        checked = str(t["checked"]) if t["checked"] == t["size"] else f"{t['checked']} of {t['size']}"
        kinks = "" if not t["kinks"] else f"{t['kinks']} ({', '.join(t['kink_sources'])})"
        errors = [f"{t[k][m]:.1e}" if t[k][m] is not None else "—"
                  for m in methods for k in ("max_rel_error", "median_rel_error")]
        expected = [row["part"] if row["cells"][0] else "", t["tensor"], checked, kinks,
                    str(t["noise"] or ""), *errors, t["verdict"]]
        assert len(row["cells"]) == len(expected) and all(map(same_cell, row["cells"], expected)), \
            f"docs/gradcheck.md quotes {row['cells']}; optlab prints {expected}"
    verdict = next(line for line in lines if line.startswith(("PASS", "FAIL")))
    verdicts = [t["verdict"] for t in tensors.values()]
    passing, failing = sum(v.startswith("pass") for v in verdicts), verdicts.count("fail")
    assert verdict.startswith(f"PASS: {passing} of {len(verdicts)} tensors" if data["passed"]
                              else f"FAIL: {failing} of {len(verdicts)} tensors"), verdict
    assert result.exit_code == (0 if data["passed"] else 1)


def test_the_clean_transcript_is_what_gradcheck_prints():
    clean, _, _ = transcripts()
    assert clean[0] == "$ optlab gradcheck " + " ".join(CLEAN)
    check(CLEAN, clean)


def test_a_gradient_one_percent_too_large_fails_as_the_page_says(monkeypatch):
    _, broken, _ = transcripts()
    backward_params = layers.Linear.backward_params

    def too_large(self, dout: np.ndarray) -> None:
        backward_params(self, dout)
        self.grads["W"] *= 1.01

    monkeypatch.setattr(layers.Linear, "backward_params", too_large)
    check(BROKEN, broken)


def test_zero_initialisation_is_reported_as_kinks_as_the_page_says():
    _, _, zeros = transcripts()
    assert zeros[0] == "$ optlab gradcheck " + " ".join(ZEROS)
    check(ZEROS, zeros)


@pytest.mark.parametrize("line", ["│ x │ fc1.W │ 20 of 200 │ │ │ 2.9e-09 │ 6.5e-10 │ pass │"])
def test_the_row_reader_reads_a_quoted_row(line):
    assert rows([line]) == [{"part": "x", "cells": ["x", "fc1.W", "20 of 200", "", "", "2.9e-09", "6.5e-10", "pass"]}]
