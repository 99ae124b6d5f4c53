"""What ``optlab data list`` and ``optlab data download`` do and show: every dataset, whether
it is on disk (and verifies), where, and how big; fetching one by name."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from optlab.data.download import Located, fetch, locate, presence
from optlab.data.sources import ENV_DATA_DIR, SPECS, data_root, default_root

GENERATED = {"spiral": "CS231n's K-class spiral", "blobs": "Gaussian clusters",
             "single": "one example (Nielsen's neuron)"}
STATE_STYLE = {"verified": "green", "unverified": "yellow", "corrupt": "bold red", "incomplete": "yellow",
               "missing": "dim"}


def resolve_root(root: Path | None) -> tuple[Path, str]:
    """The data directory and why it is the one: --root, $OPTLAB_DATA_DIR, or the default."""
    if root is not None:
        return root, "--root"
    path = data_root()
    return path, (ENV_DATA_DIR if path != default_root() else "the per-user default; set OPTLAB_DATA_DIR to change")


def _size(n: int) -> str:
    return "—" if not n else f"{n / 1e6:,.1f} MB"


def catalog_table(root: Path) -> Table:
    table = Table(title="optlab datasets", title_justify="left")
    for col in ("dataset", "status", "size", "where / what"):
        table.add_column(col, justify="right" if col == "size" else "left", overflow="fold")
    for name, spec in SPECS.items():
        p = presence(spec, root)
        style = STATE_STYLE[p.state]
        # the folder is the user's path (--root, $OPTLAB_DATA_DIR): printed literally, never as markup
        table.add_row(name, Text(p.state, style=style), _size(p.bytes_on_disk), Text(f"{p.folder}\n{p.detail}"))
    for name, what in GENERATED.items():
        table.add_row(name, "generated", "—", what)
    return table


def print_catalog(root: Path | None = None, console: Console | None = None) -> None:
    console = console or Console(highlight=False, emoji=False)
    path, why = resolve_root(root)
    console.print(f"data directory: {path}  ({why})", markup=False, soft_wrap=True)
    console.print(catalog_table(path))


def download(name: str, root: Path | None = None, console: Console | None = None) -> Located:
    """Fetch and verify dataset ``name`` into the data directory; report where it is."""
    path, _ = resolve_root(root)
    spec = SPECS[name]
    if presence(spec, path).state == "verified":
        located = locate(spec, path, download=False)       # nothing to fetch
    else:
        located = fetch(spec, path, console=console)
    size = sum(p.stat().st_size for p in located.paths.values())
    (console or Console(stderr=True, emoji=False)).print(f"{name}: {len(located.paths)} files verified in {located.folder} "
                                            f"({_size(size)})", markup=False, soft_wrap=True)
    return located
