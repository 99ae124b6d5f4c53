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
