"""The ``creditflow`` command line: parses arguments, calls stages or flows, prints a summary.

Every command takes ``--json`` (one JSON object on stdout) and ``--debug`` (tracebacks). Errors are
one line on stderr and a non-zero exit code (``support``: how a command runs).

- ``data``: init, simulate, ingest, validate, summary
- ``daily``: score, backfill, monitor, collections, report
- ``demo``: the end-to-end demo
- ``lifecycle``: train, promote, rollback
- ``config``: config show, config docs, home relocate
"""

from __future__ import annotations

import typer

from flows.cli import config, daily, data, demo, lifecycle
from flows.cli.support import OneLineUsage

app = typer.Typer(add_completion=False, no_args_is_help=True, cls=OneLineUsage,
                  help="creditflow: a credit-risk (PD) pipeline for auto finance.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
app.add_typer(config_app, name="config")
home_app = typer.Typer(no_args_is_help=True, help="The home folder (CREDITFLOW_HOME).")
app.add_typer(home_app, name="home")

for command in (data.init, data.simulate, data.ingest, data.validate,
                daily.score, daily.backfill, daily.monitor, daily.collections, daily.report,
                data.summary, demo.demo, lifecycle.train, lifecycle.promote, lifecycle.rollback):
    app.command()(command)
config_app.command("show")(config.show)
config_app.command("docs")(config.docs)
home_app.command("relocate")(config.relocate)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="creditflow")
