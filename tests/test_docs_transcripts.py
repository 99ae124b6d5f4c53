"""The terminal transcripts quoted in README.md and docs/ are what optlab prints: every ``` block
that opens with ``$ optlab ...`` is re-run here, command by command, in a fresh folder holding the
files the page defines (a ```yaml block whose first line is ``# NAME.yaml``), and its output is
compared line by line. In a quoted transcript a line ``...`` stands for any lines, and ``...``
inside a line for any text; run directories' time stamps and wall times are the only other
things allowed to differ. (docs/gradcheck.md's tables are checked number by number in
tests/test_docs_gradcheck.py.)"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

from optlab.cli import app

PAGES = [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "gradcheck.md")]
_STAMP = re.compile(r"\d{4}-\d\d-\d\d_\d{6}")
_VOLATILE = [(_STAMP, "YYYY-MM-DD_HHMMSS"), (re.compile(r"wall time: [\d.]+ s"), "wall time: T s")]


def blocks(page: Path) -> list[tuple[int, list[str]]]:
    """(line number, lines) of every ``` block of ``page`` (the fence's language dropped)."""
    text = page.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m.group(2).splitlines())
            for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def transcripts() -> list:
    out = []
    for page in PAGES:
        files = {b[0][2:].split(":")[0].strip(): "\n".join(b) + "\n" for _, b in blocks(page)
                 if b and re.match(r"# [\w.-]+\.yaml\b", b[0])}
        for line, lines in blocks(page):
            if lines and lines[0].startswith("$ optlab "):
                out.append(pytest.param(lines, files, id=f"{page.relative_to(REPO)}:{line}"))
    return out


def normal(text: str) -> str:
    for pattern, fixed in _VOLATILE:
        text = pattern.sub(fixed, text)
    return text.rstrip()


def matches(quoted: list[str], printed: list[str]) -> bool:
    """``quoted`` (with ``...`` lines and ``...`` in lines) against ``printed``, whole."""
    if not quoted:
        return not printed
    head, rest = quoted[0], quoted[1:]
    if head == "...":
        return any(matches(rest, printed[i:]) for i in range(len(printed) + 1))
    pattern = ".*?".join(re.escape(part) for part in normal(head).split("..."))
    return bool(printed) and re.fullmatch(pattern, normal(printed[0])) is not None and matches(rest, printed[1:])


def newest_run(where: Path, quoted: str) -> str:
    """A quoted run directory (``runs/2026-11-23_160257_quickstart``) -> the one this re-run made."""
    name = _STAMP.sub("", Path(quoted).name).lstrip("_")
    made = sorted(p for p in (where / Path(quoted).parent).glob(f"*_{name}") if _STAMP.match(p.name))
    return str(made[-1].relative_to(where)) if made else quoted


@pytest.mark.parametrize("lines,files", transcripts())
def test_every_transcript_is_what_the_command_prints(lines, files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTLAB_RUNS_DIR", raising=False)
    (tmp_path / "tests").mkdir()
    shutil.copytree(REPO / "tests" / "broken_configs", tmp_path / "tests" / "broken_configs")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    commands = [i for i, line in enumerate(lines) if line.startswith("$ ")]
    for start, end in zip(commands, [*commands[1:], len(lines)]):
        argv = [newest_run(tmp_path, a) if _STAMP.search(a) else a for a in shlex.split(lines[start][2:])]
        result = CliRunner().invoke(app, argv[1:], terminal_width=200)
        printed = [line for line in result.output.rstrip("\n").splitlines()]
        quoted = lines[start + 1: end]
        assert matches(quoted, printed), (f"{lines[start]}\nthe page quotes:\n" + "\n".join(quoted) +
                                          "\noptlab prints:\n" + "\n".join(printed))


def test_the_transcripts_are_found():
    ids = [p.id for p in transcripts()]
    assert any(i.startswith("README.md") for i in ids) and len(ids) >= 6, ids
