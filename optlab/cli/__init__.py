"""The ``optlab`` command line: thin typer commands that parse options, load the config and call
one library function each. Heavy modules (numpy, matplotlib, pydantic) are imported inside the
commands so that ``optlab --help`` stays fast.

Exit codes (docs/conventions.md): 0 success; 1 the run failed (diverged, error); 2 bad input (a config
or argument error, an unusable runs directory, a refused --resume); 130 / 143 the run was stopped
by SIGINT / SIGTERM (128 + the signal number, as shells report it: issue #9). No traceback unless
``--debug`` (``optlab --debug CMD`` for any command, or ``CMD --debug``).
"""

from __future__ import annotations

# Each module registers its commands on `app`; this order is the order of `optlab --help`.
from optlab.cli import (
    data,  # noqa: F401
    gradcheck,  # noqa: F401
    landscape,  # noqa: F401
    report,  # noqa: F401
    studies,  # noqa: F401
    train,  # noqa: F401, I001
)
from optlab.cli.app import app, full_short_help, main

full_short_help(app)

__all__ = ["app", "main"]
