"""The docs say what the code does: the config reference is generated from the schema, and the
README's test command is the one CI runs."""

from __future__ import annotations

from conftest import REPO

from optlab.config.reference import reference


def test_config_reference_is_up_to_date():
    assert (REPO / "docs" / "config.md").read_text() == reference(), \
        "docs/config.md is stale: run `python -m optlab.config.reference > docs/config.md`"


def test_ci_runs_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    for marker in ("INSTALL_TEST", "INSTALL_RUN"):
        line = next(l for l in ci.splitlines() if l.startswith(f"{marker}="))
        command = line.split("=", 1)[1].strip().strip("'")
        assert command in readme, f"the README must show the exact command CI runs: {command}"


def test_no_text_tells_users_to_pip_install_the_name_optlab():
    """`optlab` on the public package index is another project: every install line names the clone
    (`pip install -e .`, `pip install -e ".[tune]"`) or a built wheel, never the bare name."""
    import re

    bare = re.compile(r"""pip3?\s+install\s+(?:-U\s+|--upgrade\s+)?["']?optlab\b""")
    texts = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")),
             *sorted((REPO / "optlab").rglob("*.py")), *sorted((REPO / "benchmarks").rglob("*.py"))]
    found = [f"{p.relative_to(REPO)}:{n}: {line.strip()}" for p in texts
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if bare.search(line)]
    assert not found, "\n".join(found)
