"""``python -m optlab.cli``."""

from optlab.cli.app import main

main()
