"""``python -m flows.cli``: the command line, as the ``creditflow`` script runs it."""

from flows.cli import main

main()
