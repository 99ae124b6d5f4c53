"""The package's shape is checked, not hoped for: the layers (import-linter's contract in
pyproject.toml), no import cycles between modules, modules that open with a docstring and stay
small, and an engine that writes no files and knows no config or CLI (README, "How optlab is built")."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "optlab"
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The optlab modules ``path`` imports, at module level or inside functions (a lazy import is
    still a dependency: it can close a cycle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in known and m != name and m != "optlab"}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module are the import cycles."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    # a package's __init__ that re-exports its modules is not a dependency of those modules
    return {name: {m for m in imports(path, name, known) if not name.startswith(m + ".")}
            for name, path in mods.items()}


def test_the_layers_hold():
    """import-linter's `layers` contract (pyproject.toml): a new upward import fails the build."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    done = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_no_import_cycles():
    cycles = strongly_connected(graph())
    assert cycles == [], f"modules that import each other in a loop: {cycles}"


def test_the_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_opens_with_a_docstring_and_stays_small(name):
    path = modules()[name]
    text = path.read_text(encoding="utf-8")
    if path.name == "__init__.py" and not text.strip():
        return                                  # an empty package marker
    assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(REPO)} has no docstring saying what it holds"
    assert len(text.splitlines()) <= MAX_LINES, f"{path.relative_to(REPO)}: over {MAX_LINES} lines; split it"


def test_the_engine_writes_no_files_and_knows_no_config():
    """Pure numpy: no open(), no pathlib, no config schema, no CLI, no run directory."""
    for name, path in modules().items():
        if not name.startswith("optlab.engine"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
                pytest.fail(f"{name} opens a file")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for m in mods:
                    assert not m.startswith(("pathlib", "optlab.config", "optlab.cli", "typer", "yaml")), \
                        f"{name} imports {m}"
