"""optlab: a command-line laboratory for how neural networks learn their parameters.

The package is layered, each layer importing only from those below it (import-linter checks it):
``cli`` and ``terminal`` (the face) -> ``studies`` and ``gradcheck`` (many runs) -> ``training``
(one run) -> ``record`` (run directories, reports, figures, pages) -> ``config`` and ``data`` ->
``engine`` (pure numpy). README.md's "How optlab is built" says what each holds.
Nothing here imports numpy at package import time, so ``optlab --help`` stays fast.
"""

__version__ = "0.1.0"
