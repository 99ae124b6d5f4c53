"""The ``optlab`` command line: thin typer commands that parse options, load the config and call
one library function each. Heavy modules (numpy, matplotlib, pydantic) are imported inside the
commands so that ``optlab --help`` stays fast.

Exit codes (docs/conventions.md): 0 success; 1 the run failed (diverged, error); 2 bad input (a config
or argument error, an unusable runs directory, a refused --resume); 130 / 143 the run was stopped
by SIGINT / SIGTERM (128 + the signal number, as shells report it). No traceback unless
``--debug`` (``optlab --debug CMD`` for any command, or ``CMD --debug``).
"""

from __future__ import annotations

import importlib

from optlab.cli.app import app, full_short_help, main

# Each module registers its commands on `app`; this order is the order of `optlab --help`.
for _module in ("train", "gradcheck", "studies", "landscape", "hessian", "explore", "recipes", "optimizers", "report",
                "data"):
    importlib.import_module(f"optlab.cli.{_module}")

full_short_help(app)

__all__ = ["app", "main"]
