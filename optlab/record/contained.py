"""Which paths a study's manifest may name: relative ones that stay inside the study directory.

sweep.json and compare.json name their trials' directories (``trials/t003``, ``tune/adam-lr0.01``).
Those names are read back by ``--resume`` (which may delete a trial directory to restart it) and
by ``optlab report`` (which rewrites each trial's figures), so a manifest edited by hand, or
planted, could otherwise point them at any folder: ``/home/me`` or ``../../x``. Every name is
resolved (``..`` and symbolic links followed) and must land strictly below the study directory;
otherwise :class:`Outside` is raised before anything is touched.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class Outside(ValueError):
    """A path named by a manifest leaves its study directory (or is not a relative path at all)."""


def inside(root: Path, name: object, where: str = "") -> Path:
    """``root / name`` after checking that ``name`` is a relative path resolving strictly below
    ``root``; :class:`Outside` naming ``where`` (e.g. ``sweep.json trial 3``) otherwise."""
    root = Path(root)
    label = f"{where}: " if where else ""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise Outside(f"{root}: {label}{name!r} is not a directory name")
    if PurePosixPath(name).is_absolute() or Path(name).is_absolute() or Path(name).drive:
        raise Outside(f"{root}: {label}{name!r} is an absolute path; a study names its trials relative to its "
                      "directory")
    base = root.resolve()
    target = (root / name).resolve()
    if target == base or base not in target.parents:
        raise Outside(f"{root}: {label}{name!r} leads to {target}, outside the study directory")
    return root / name


def manifest_dirs(manifest: dict) -> list[tuple[str, object]]:
    """``(where, name)`` for every directory a sweep.json or compare.json names."""
    out: list[tuple[str, object]] = []
    for k, t in enumerate(manifest.get("trials") or []):         # sweep.json
        if isinstance(t, dict) and t.get("dir") is not None:
            out.append((f"trial {t.get('index', k)}", t["dir"]))
    for v in manifest.get("variants") or []:                     # compare.json
        if not isinstance(v, dict):
            continue
        label = v.get("label", "?")
        for t in v.get("tune_trials") or []:
            out.append((f"variant {label!r} tuning trial", t.get("dir") if isinstance(t, dict) else t))
        for name in v.get("trials") or []:
            out.append((f"variant {label!r} trial", name))
    return out


def check_manifest(root: Path, manifest: dict, file: str) -> None:
    """:class:`Outside` listing every directory of ``file`` (the manifest in ``root``) that leaves
    ``root``; nothing when all stay inside."""
    bad = []
    for where, name in manifest_dirs(manifest):
        try:
            inside(root, name, f"{file} {where}")
        except Outside as exc:
            bad.append(str(exc))
    if bad:
        raise Outside("; ".join(bad) + " — refused: nothing was changed")
