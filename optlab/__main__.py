"""Allow ``python -m optlab`` as an alias of the ``optlab`` console script."""

from optlab.cli import main

main()
