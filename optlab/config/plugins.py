"""Users' optimizers: found in a file a config names, or in an installed package's entry point, and
registered with the engine's registry (optlab.engine.optimizers.registry) under their names.

- a file: ``optimizer: {name: mylion, from: ./mylion.py}`` (relative to the config; the resolved
  config records the absolute path, so a resumed run or a study's worker loads the same file).
  :func:`load_file` imports it as a module of its own and registers every optimizer class it
  defines; loading it again reuses it unless the file changed.
- an installed package: ``[project.entry-points."optlab.optimizers"] mylion = "mypkg.lion:Lion"``,
  loaded the first time a config names ``mylion`` (:func:`find`).

Whatever goes wrong (the file is missing, a syntax error, an import error, no ``step``, a ``step``
with the wrong arguments) is a :class:`PluginError` naming the file (and line where there is one)
and the reason; the config loader reports it as a config problem, exit 2.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path

from optlab.engine.optimizers.base import Optimizer
from optlab.engine.optimizers.registry import PluginError, builtin, known, lookup, register

GROUP = "optlab.optimizers"

_files: dict[Path, tuple[tuple, dict[str, type[Optimizer]]]] = {}   # path -> ((mtime, size), its rules)


def entry_points() -> dict[str, metadata.EntryPoint]:
    """The installed optimizers by name (entry point group ``optlab.optimizers``)."""
    return {point.name: point for point in metadata.entry_points(group=GROUP)}


def names() -> list[str]:
    """Every optimizer name a config can use now: built-in, registered, installed."""
    return list(dict.fromkeys([*known(), *entry_points()]))


def find(name: str) -> type[Optimizer]:
    """The rule called ``name``: built in, already registered, or an installed entry point (loaded
    now). KeyError when there is none; PluginError when the entry point is broken."""
    try:
        return lookup(name)
    except KeyError:
        point = entry_points().get(name)
        if point is None:
            raise
        return load_entry_point(point)


def load_entry_point(point: metadata.EntryPoint) -> type[Optimizer]:
    where = f"entry point {point.name} = {point.value}" + (f" ({point.dist.name})" if point.dist else "")
    try:
        cls = point.load()
    except Exception as exc:   # an installed package's import error: say where, not a traceback
        raise PluginError(where, f"cannot be imported: {type(exc).__name__}: {exc}") from None
    if getattr(cls, "name", None) != point.name:
        raise PluginError(where, f"the entry point is called {point.name!r} but the class's name is "
                                 f"{getattr(cls, 'name', None)!r}")
    return register(cls, where)


def load_file(path: str | Path) -> dict[str, type[Optimizer]]:
    """Import a user's file and register the rules it defines: {name: class}. PluginError when it
    cannot be imported or a class it defines is not a usable rule."""
    path = Path(path).expanduser().resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise PluginError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    if path in _files and _files[path][0] == stamp:
        return {name: register(cls, str(path)) for name, cls in _files[path][1].items()}
    if not path.is_file() or path.suffix != ".py":
        raise PluginError(str(path), "is not a Python file (.py)")
    # a module name of its own per file, so two users' mylion.py do not replace each other
    module_name = f"optlab_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module       # pickling a rule's instance finds its class here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise PluginError(f"{path}:{exc.lineno}", f"syntax error: {exc.msg}") from None
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(f"{path}{_line_in(exc, path)}", f"cannot be imported: {type(exc).__name__}: {exc}") from None
    rules = [cls for cls in vars(module).values()
             if isinstance(cls, type) and issubclass(cls, Optimizer) and cls.__module__ == module_name]
    if not rules:
        raise PluginError(str(path), "defines no optimizer (a subclass of optlab.engine.optimizers.Optimizer)")
    found = {}
    for cls in rules:
        found[cls.name] = register(cls, f"{path}, class {cls.__name__}")
        cls.found_in = cls.source_file = str(path)
    _files[path] = (stamp, found)
    return found


def _line_in(exc: BaseException, path: Path) -> str:
    """``:LINE`` of the last frame of ``exc``'s traceback inside ``path``, or ''."""
    line = ""
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = f":{tb.tb_lineno}"
        tb = tb.tb_next
    return line


def everything() -> tuple[dict[str, type[Optimizer]], list[PluginError]]:
    """Every optimizer that can be named now: built-in, registered, installed (each entry point
    loaded), and the entry points that are broken."""
    broken = []
    for name, point in entry_points().items():
        if name not in known():
            try:
                load_entry_point(point)
            except PluginError as exc:
                broken.append(exc)
    return {**builtin(), **known()}, broken
