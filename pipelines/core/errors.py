"""The errors a user can act on. The CLI prints their message as one line, without a traceback."""


class CreditflowError(Exception):
    """Base class: the message names what is wrong (file, row, column, rule, version)."""


def short(text: object, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters for an error message: a value echoed from hostile
    input (a 300 MB YAML expansion, a 1 MB column name) must not become the message."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"
