"""optlab: a command-line laboratory for how neural networks learn their parameters.

The package is layered so that data flows one way:
cli -> config -> experiment -> (data, models, losses, regularizers, optimizers) -> rundir -> plots.
Nothing here imports numpy at package import time, so ``optlab --help`` stays fast.
"""

__version__ = "0.1.0"
