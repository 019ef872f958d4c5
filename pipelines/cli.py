"""The ``creditflow`` command line: parses arguments, calls stages or flows, prints a summary.

Every command takes ``--json`` (one JSON object on stdout) and ``--debug`` (tracebacks). Errors are
one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipelines.errors import CreditflowError
from pipelines.settings import Settings, configure_environment, redact

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="creditflow: a credit-risk (PD) pipeline for auto finance.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
app.add_typer(config_app, name="config")
console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary object on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


def run(action: Callable[[Settings], dict[str, Any]], as_json: bool, debug: bool,
        render: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Run one command: errors become one clear line and exit code 1 (2 for usage errors)."""
    try:
        settings = Settings()
        configure_environment(settings)
        summary = action(settings)
    except Exception as exc:
        if debug:
            raise
        kind = "error" if isinstance(exc, CreditflowError) else f"error ({type(exc).__name__})"
        message = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        if as_json:
            print(json.dumps({"ok": False, "error": message}))
        console.print(f"[red]{kind}:[/red] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps({"ok": True, **summary}, default=str))
    elif render:
        render(summary)
    else:
        print_summary(summary)
    if summary.get("ok") is False:  # a verdict, not a crash (e.g. a rejected batch): exit 1
        if not as_json:
            console.print(f"[red]error:[/red] {summary.get('error', '')}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(1)


def print_summary(summary: dict[str, Any], title: str | None = None) -> None:
    table = Table(title=title, show_header=False, box=None)
    for key, value in summary.items():
        shown = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        table.add_row(f"[bold]{key}[/bold]", shown)
    Console().print(table)


@app.command()
def init(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Create or migrate the warehouse schema (harmless to run twice)."""
    from pipelines.warehouse import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        revision = Warehouse.from_settings(settings).init()
        return {"warehouse": Settings.masked(settings)["warehouse_url"], "revision": revision,
                "home": str(settings.home)}

    run(action, as_json, debug)


@app.command()
def simulate(
    n_applications: Annotated[int | None, typer.Option("--rows", help="Applications.")] = None,
    start: Annotated[str | None, typer.Option(help="First application date.")] = None,
    end: Annotated[str | None, typer.Option(help="Last application date.")] = None,
    scenario: Annotated[str | None, typer.Option(help="Drift scenario.")] = None,
    scenario_start: Annotated[str | None, typer.Option(help="Drift onset date.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    load: Annotated[bool, typer.Option(help="Load the book into the warehouse.")] = True,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Generate a synthetic auto-loan book (applications, loans, repayment tape)."""
    from pipelines.book import simulate_and_load

    def action(settings: Settings) -> dict[str, Any]:
        sim = settings.simulate.model_copy(update={k: v for k, v in {
            "n_applications": n_applications,
            "start": _date(start), "end": _date(end), "scenario": scenario,
            "scenario_start": _date(scenario_start)}.items() if v is not None})
        return simulate_and_load(settings, sim, seed=settings.seed if seed is None else seed,
                                 load=load, progress=not as_json)

    run(action, as_json, debug)


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    kind: Annotated[str, typer.Option(help="applications | loans | repayments")] = "applications",
    mapping: Annotated[Path | None, typer.Option(help="YAML column mapping.")] = None,
    business_date: Annotated[str | None, typer.Option(
        help="The batch's business date (default: its latest date, at most today).")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Load your own loan tape into the warehouse through the validation gate (idempotent on
    the natural key; bad rows go to quarantine, a bad batch is rejected whole)."""
    from pipelines.ingest import ingest_file
    from pipelines.warehouse import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        wh = Warehouse.from_settings(settings)
        wh.init()
        result = ingest_file(wh, path, kind, mapping, chunk_rows=settings.ingest.chunk_rows,
                             settings=settings, business_date=_date(business_date))
        return vars(result)

    run(action, as_json, debug)


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    kind: Annotated[str, typer.Option(
        help="applications | loans | repayments | features | scores")] = "applications",
    mapping: Annotated[Path | None, typer.Option(help="YAML column mapping.")] = None,
    business_date: Annotated[str | None, typer.Option(
        help="The batch's business date (default: its latest date, at most today).")] = None,
    record: Annotated[bool, typer.Option(
        help="Store the verdict and quarantine rows in the warehouse (default: dry run).")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run the validation gate alone on a file and print its verdict (exit 1 if rejected)."""
    from pipelines.validate import BatchRejected, validate_file
    from pipelines.warehouse import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        wh = Warehouse.from_settings(settings)
        wh.init()  # the trailing row counts live there, even for a dry run
        try:
            result = validate_file(settings, path, kind, mapping, _date(business_date), wh,
                                   record=record)
        except BatchRejected as exc:
            return {"ok": False, "error": str(exc), **exc.result.summary()}
        return result.summary()

    run(action, as_json, debug)


@app.command()
def summary(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Counts and date ranges of what the warehouse holds."""
    from pipelines.book import warehouse_summary
    from pipelines.warehouse import Warehouse

    run(lambda s: warehouse_summary(Warehouse.from_settings(s)), as_json, debug)


@app.command()
def demo(
    rows: Annotated[int | None, typer.Option(help="Applications in the simulated book.")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The end-to-end demo on the embedded defaults (today: simulate, load, summarise)."""
    from pipelines.book import simulate_and_load, warehouse_summary
    from pipelines.warehouse import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        sim = settings.simulate if rows is None else settings.simulate.model_copy(
            update={"n_applications": rows})
        loaded = simulate_and_load(settings, sim, seed=settings.seed, load=True,
                                   progress=not as_json)
        return {"simulated": loaded,
                "warehouse": warehouse_summary(Warehouse.from_settings(settings))}

    run(action, as_json, debug)


@app.command()
def train(
    train_end: Annotated[str | None, typer.Option(help="Last day of the training window.")] = None,
    oot_months: Annotated[int | None, typer.Option(help="Out-of-time window length.")] = None,
    hpo_trials: Annotated[int | None, typer.Option(help="Optuna trials (0: none).")] = None,
    hpo_timeout: Annotated[int | None, typer.Option(help="Optuna budget in seconds.")] = None,
    promote: Annotated[bool, typer.Option(help="Run the promotion flow afterwards.")] = True,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train a PD model (Prefect flow `training`), register it as challenger, then promote on
    evidence."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.training import training

        if hpo_timeout is not None:
            import os

            os.environ["CREDITFLOW_TRAINING__HPO_TIMEOUT_S"] = str(hpo_timeout)
        return training(train_end=_date(train_end), oot_months=oot_months,
                        hpo_trials=hpo_trials, promote=promote, triggered_by="cli")

    run(action, as_json, debug)


@config_app.command("show")
def config_show(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Print the effective configuration, secrets masked."""
    from pipelines.settings import config_path

    def action(settings: Settings) -> dict[str, Any]:
        return {"config_file": str(config_path()), "config_hash": settings.config_hash(),
                **settings.masked()}

    def render(summary: dict[str, Any]) -> None:
        Console().print_json(json.dumps(summary, default=str))

    run(action, as_json, debug, render)


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from None


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="creditflow")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
