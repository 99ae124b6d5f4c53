"""Recipes: the experiments shipped with optlab, runnable by name.

Their source of truth is the repository's top-level ``configs/*.yaml`` (what a reader opens first;
``optlab train configs/quickstart.yaml`` works in the clone). Building a wheel copies that folder into
the package as ``optlab/recipes/`` (pyproject.toml, hatch ``force-include``), so ``optlab train
quickstart`` works from any directory after any install; an editable install reads ``configs/``.

A recipe is an ordinary config file whose header comment says what it is for::

    # Question: which of SGD, Momentum, AdaGrad and Adam ...?
    # Source: Deep Learning from Scratch, ch. 6, fig. 6-9 ...
    # Command: optlab compare sgd momentum adagrad adam --config mnist_mlp
    # Command: optlab train mnist_mlp   (SGD alone)

The *first* ``# Command:`` line is the recipe's own command: the one that reproduces its figure.
Its sub-command (``train``, ``compare`` or ``sweep``) is the recipe's *kind*, so the kind cannot
disagree with the command (there is no second field to keep in step), and it names the recipe by
its name (``--config mnist_mlp``), never by a repository path, so it works after a plain
``pip install`` from any directory. Text after two spaces and ``(`` is a note, not part of the
command. Header fields are ``# Key:`` lines; lines without a known key continue the field above.

Names resolve in this order (:func:`resolve`): an existing file as given; ``NAME.yaml`` in the
current directory (a local file wins over a recipe of the same name, so an edited copy from
``optlab recipes copy`` is what runs); then the recipe. The origin is recorded in each run's
meta.json: the path, or ``recipe:NAME``.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from optlab.config.loading import ConfigError, Problem



def _recipes_dir() -> Path:
    """The installed copy (``optlab/recipes`` in a built wheel), else the clone's ``configs/``."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "recipes"
    return installed if installed.is_dir() else package.parent / "configs"


RECIPES_DIR = _recipes_dir()
FIELDS = ("question", "source", "command")
KINDS = ("train", "compare", "sweep")
_KIND_WORD = {"train": "run", "compare": "comparison", "sweep": "sweep"}


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    question: str                       # the whole "# Question:" field, one line
    source: str                         # the whole "# Source:" field, one line
    commands: list[str] = field(default_factory=list)   # every "# Command:" line, notes cut off

    @property
    def command(self) -> str:
        """The recipe's own command: the first one."""
        return self.commands[0] if self.commands else f"optlab train {self.name}"

    @property
    def kind(self) -> str:
        """``run``, ``comparison`` or ``sweep``: what the recipe's own command is."""
        words = self.command.split()
        return _KIND_WORD.get(words[1] if len(words) > 1 else "", "run")

    @property
    def headline(self) -> str:
        """The question's first sentence (up to its question mark)."""
        text = self.question
        cut = text.find("?")
        return text[: cut + 1] if cut != -1 else text

    def argv(self) -> list[str]:
        """The recipe's own command as arguments after ``optlab``."""
        return shlex.split(self.command)[1:]


@dataclass(frozen=True)
class ConfigRef:
    """Where a config came from: ``path`` to read, ``origin`` to record (a path or ``recipe:NAME``)."""

    path: Path
    origin: str


def _strip_note(text: str) -> str:
    """``optlab train x   (downloads ...)`` -> ``optlab train x``."""
    cut = text.find("  (")
    return (text[:cut] if cut != -1 else text).strip()


def parse_header(text: str) -> dict[str, list[str]]:
    """The ``# Key:`` fields of the leading comment block: {"question": [lines], "source": [...],
    "command": [one entry per Command line]}. Continuation lines join the field above (not a command)."""
    out: dict[str, list[str]] = {k: [] for k in FIELDS}
    current: str | None = None
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip()
        key, colon, rest = body.partition(":")
        if colon and key.lower() in FIELDS and key[:1].isupper():
            current = key.lower()
            out[current].append(_strip_note(rest) if current == "command" else rest.strip())
        elif current in ("question", "source") and body:
            out[current].append(body)
        else:
            current = None if current == "command" else current
    return out


def read_recipe(path: Path) -> Recipe:
    fields = parse_header(path.read_text(encoding="utf-8"))
    return Recipe(path.stem, path, " ".join(fields["question"]), " ".join(fields["source"]), fields["command"])


def recipes() -> list[Recipe]:
    """Every shipped recipe, by name."""
    return [read_recipe(p) for p in sorted(RECIPES_DIR.glob("*.yaml"))]


def names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def unknown(name: str, where: str = "recipe") -> ConfigError:
    """The error for a name that is neither a file nor a recipe: the closest recipe, and how to list them."""
    close = difflib.get_close_matches(Path(name).stem, names(), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError([Problem(name, "", f"no such file or recipe{hint} (optlab recipes lists them)")])


def find(name: str) -> Recipe:
    """The shipped recipe called ``name`` (``name.yaml`` also accepted), or ConfigError."""
    stem = name[:-5] if name.endswith(".yaml") else name
    path = RECIPES_DIR / f"{stem}.yaml"
    if "/" in stem or "\\" in stem or not path.is_file():
        raise unknown(name)
    return read_recipe(path)


def resolve(text: str | Path) -> ConfigRef:
    """A config argument -> the file to read and its origin: a file as given, else ``NAME.yaml``
    here, else the recipe ``NAME``. Neither: ConfigError naming the closest recipe."""
    given = Path(text)
    try:
        return _resolve(given, text)
    except OSError:      # e.g. a name too long for the file system: the loader says so, exit 2
        return ConfigRef(given, str(given))


def _resolve(given: Path, text: str | Path) -> ConfigRef:
    if given.is_file():
        return ConfigRef(given, str(given))
    local = Path(f"{text}.yaml")
    if not str(text).endswith((".yaml", ".yml")) and local.is_file():
        return ConfigRef(local, str(local))
    stem = given.name[:-5] if given.name.endswith(".yaml") else given.name
    if given.parent == Path(".") and (RECIPES_DIR / f"{stem}.yaml").is_file():
        return ConfigRef(RECIPES_DIR / f"{stem}.yaml", f"recipe:{stem}")
    if given.exists():                   # a directory: the loader says so
        return ConfigRef(given, str(given))
    if given.parent != Path("."):        # a path that does not exist: the loader's "no such file"
        return ConfigRef(given, str(given))
    raise unknown(str(text))


def copy(name: str, dest: str | Path | None = None, force: bool = False) -> Path:
    """Write an editable copy of recipe ``name`` to ``dest`` (a file, or a directory to put
    ``NAME.yaml`` in: one that exists, or any path written with a trailing slash; default
    ``./NAME.yaml``). Refuses to overwrite unless ``force``, and always refuses a target that is a
    symbolic link (even a dangling one) or not a regular file (a FIFO, a device): the copy is
    written to a temporary file beside it and renamed over it, so no link is followed and no
    reader is waited for."""
    import os
    import stat
    import tempfile

    recipe = find(name)
    text = str(dest) if dest is not None else f"{recipe.name}.yaml"
    target = Path(text)
    if text.endswith(("/", os.sep)) or (target.is_dir() and not target.is_symlink()):
        target = target / f"{recipe.name}.yaml"
    if target.is_symlink():
        raise ConfigError([Problem(str(target), "", f"is a symbolic link (to {os.readlink(target)}); optlab does not "
                                                    "write through links: remove it or give another DEST")])
    if target.exists():
        if not stat.S_ISREG(target.stat().st_mode):
            raise ConfigError([Problem(str(target), "", "exists and is not a regular file; give another DEST")])
        if not force:
            raise ConfigError([Problem(str(target), "", "already exists; give another DEST or --force")])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(recipe.path.read_bytes())
            os.chmod(temp, 0o644)
            os.replace(temp, target)    # renames over the name itself: never through a link
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError([Problem(str(target), "", f"cannot write it: {exc.strerror or exc}")]) from None
    return target
