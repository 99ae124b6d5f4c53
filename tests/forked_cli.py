"""Run the real ``optlab`` command line in a child process, cheaply: the child is forked from
the test process (optlab already imported), runs ``optlab.cli.main`` with the given arguments,
and exits with its status, so each case is a real process (its own signal handlers, file
descriptors and exit code) without an interpreter start-up each.

Also the snapshot used to show that a refused command changed nothing: every path under a
folder with its bytes (or its link target), compared before and after.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

# Imported here, once, so that each forked child measures optlab's work, not the imports the
# commands do lazily (a user's interpreter pays those once per command as well).
import optlab.cli  # noqa: E402,F401
import optlab.cli.train  # noqa: E402,F401
import optlab.training.run  # noqa: E402,F401


def spawn(*args: str, cwd: Path, env: dict | None = None) -> tuple[int, Path, float]:
    """Start ``optlab ARGS`` in a forked child: (pid, its output file, start time)."""
    out = Path(cwd) / f".cli-output-{os.getpid()}-{time.monotonic_ns()}"
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:   # the child: never returns into pytest
        code = 1
        try:
            os.chdir(cwd)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            # pytest's capture replaced sys.stdout / sys.stderr: write to the real descriptors
            sys.stdout = sys.__stdout__ = open(1, "w", closefd=False, encoding="utf-8", errors="replace")
            sys.stderr = sys.__stderr__ = open(2, "w", closefd=False, encoding="utf-8", errors="replace")
            os.environ.update(env or {})
            os.environ["COLUMNS"] = "300"    # one problem per line, as a wide terminal shows them
            signal.signal(signal.SIGINT, signal.default_int_handler)
            sys.argv = ["optlab", *args]
            from optlab.cli import main
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:              # a crash of the test harness itself: show it
            import traceback

            traceback.print_exc()
            code = 99
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid, out, start


def reap(child: tuple[int, Path, float], timeout: float = 30.0) -> tuple[int, str, float]:
    """Wait for a :func:`spawn`-ed child: (exit status, stdout + stderr, seconds)."""
    pid, out, start = child
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            text = out.read_text(errors="replace")
            out.unlink()
            raise AssertionError(f"the command did not finish in {timeout} s:\n{text}")
        time.sleep(0.01)
    seconds = time.monotonic() - start
    text = out.read_text(errors="replace")
    out.unlink()
    return os.waitstatus_to_exitcode(status), text, seconds


def optlab(*args: str, cwd: Path, timeout: float = 30.0, env: dict | None = None) -> tuple[int, str, float]:
    """(exit status, stdout + stderr, seconds) of ``optlab ARGS`` run in ``cwd``."""
    return reap(spawn(*args, cwd=cwd, env=env), timeout)


def snapshot(folder: Path) -> dict[str, object]:
    """Every path under ``folder``: a file's bytes, a link's target, a folder's mark."""
    folder = Path(folder)
    out: dict[str, object] = {}
    if not folder.exists():
        return out
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = "dir"
        elif path.is_file():
            out[rel] = path.read_bytes()
        else:
            out[rel] = "special"
    return out
