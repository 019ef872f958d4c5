"""How a ``creditflow`` command runs: date options, one-line errors with their exit codes
(1 for a failure, 2 for a usage error), Prefect's tracebacks kept off the console, the summary
printout. The commands themselves are in the modules beside this one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from pipelines.core.errors import CreditflowError
from pipelines.core.home import configure_environment
from pipelines.core.settings import Settings, redact, reveal

EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)
# typer exports click's BadParameter but not its bases (typer >= 0.26 vendors its own click)
UsageError: Any = typer.BadParameter.__mro__[1]
ClickException: Any = UsageError.__mro__[1]
console = Console(stderr=True)


class OneLineUsage(TyperGroup):
    """Usage errors (a bad option value, an unknown command) as one line and exit code 2, like
    every other error here; click's own form is a usage block and a framed panel."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        ctx.meta["json"] = "--json" in args  # the command's options are not parsed yet
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as asked
                raise
            print_error("error", exc.format_message(), ctx.meta.get("json", False))
            raise typer.Exit(2) from None


def parse_date(value: str) -> date:
    """An ISO date from 1900 to 2200: pandas cannot hold dates before 1677 or after 2262, and
    a date that far from any loan book is a typo."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from None
    if not EARLIEST <= day <= LATEST:
        raise typer.BadParameter(f"{value} is outside {EARLIEST}..{LATEST}")
    return day


def date_option(*names: str, help: str) -> Any:
    return typer.Option(*names, parser=parse_date, metavar="YYYY-MM-DD", help=help)


def print_error(kind: str, message: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    console.print(f"[red]{kind}:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def run(action: Callable[[Settings], dict[str, Any]], as_json: bool, debug: bool,
        render: Callable[[dict[str, Any]], None] | None = None, *, flows: bool = False) -> None:
    """Run one command: errors become one clear line and exit code 1 (usage errors exit 2 in
    ``OneLineUsage``). ``flows``: the action runs Prefect flows."""
    from pipelines.core.privacy import pseudonymise_examples

    try:
        settings = Settings()
        configure_environment(settings)
        with quiet_flow_tracebacks(flows and not debug):
            summary = action(settings)
        # Applicant ids leave as reports show them: pseudonyms (pipelines.core.privacy)
        summary = pseudonymise_examples(summary, reveal(settings.security.id_salt) or "")
    except ClickException:  # a usage error raised late: OneLineUsage prints it
        raise
    except Exception as exc:
        if debug:
            raise
        kind = "error" if isinstance(exc, CreditflowError) else f"error ({type(exc).__name__})"
        message = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        print_error(kind, message, as_json)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps({"ok": True, **summary}, default=str))
    elif render:
        render(summary)
    else:
        print_summary(summary)
    if summary.get("ok") is False:  # a verdict, not a crash (e.g. a rejected batch): exit 1
        if not as_json:
            console.print(f"[red]error:[/red] {escape(str(summary.get('error', '')))}",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@contextmanager
def quiet_flow_tracebacks(quiet: bool) -> Iterator[None]:
    """Keep log records carrying a traceback (Prefect's "Encountered exception during
    execution" of a failed flow run) off the console: the CLI prints the one-line error, and
    --debug the traceback. Prefect's API handler still records them for the UI."""
    if not quiet:
        yield
        return
    import prefect.main  # noqa: F401  (sets up Prefect's logging, which replaces root handlers)

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    for handler in handlers:
        handler.addFilter(_without_traceback)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(_without_traceback)


def _without_traceback(record: logging.LogRecord) -> bool:
    return not (record.exc_info or record.exc_text)


def print_summary(summary: dict[str, Any], title: str | None = None) -> None:
    table = Table(title=title, show_header=False, box=None)
    for key, value in summary.items():
        shown = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        table.add_row(f"[bold]{key}[/bold]", shown)
    Console().print(table)
