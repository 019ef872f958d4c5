"""The errors a user can act on. The CLI prints their message as one line, without a traceback."""


class CreditflowError(Exception):
    """Base class: the message names what is wrong (file, row, column, rule, version)."""
