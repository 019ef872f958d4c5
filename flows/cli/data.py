"""Commands on the warehouse and its data: ``init``, ``simulate``, ``ingest``, ``validate``,
``summary``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from flows.cli.options import (
    DebugOpt,
    FileArg,
    JsonOpt,
    MappingOpt,
    Scenario,
    SuiteKind,
    TapeKind,
)
from flows.cli.support import date_option, run
from pipelines.core.settings import Settings


def init(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Create or migrate the warehouse schema (harmless to run twice)."""
    from pipelines.warehouse.engine import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        revision = Warehouse.from_settings(settings).init()
        return {"warehouse": Settings.masked(settings)["warehouse_url"], "revision": revision,
                "home": str(settings.home)}

    run(action, as_json, debug)


def simulate(
    n_applications: Annotated[int | None, typer.Option("--rows", help="Applications.")] = None,
    start: Annotated[date | None, date_option(help="First application date.")] = None,
    end: Annotated[date | None, date_option(help="Last application date.")] = None,
    scenario: Annotated[Scenario | None, typer.Option(help="Drift scenario.")] = None,
    scenario_start: Annotated[date | None, date_option(help="Drift onset date.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    load: Annotated[bool, typer.Option(help="Load the book into the warehouse.")] = True,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Generate a synthetic auto-loan book (applications, loans, repayment tape)."""
    from pipelines.simulation.book import simulate_and_load

    def action(settings: Settings) -> dict[str, Any]:
        sim = settings.simulate.model_copy(update={k: v for k, v in {
            "n_applications": n_applications,
            "start": start, "end": end, "scenario": scenario and scenario.value,
            "scenario_start": scenario_start}.items() if v is not None})
        return simulate_and_load(settings, sim, seed=settings.seed if seed is None else seed,
                                 load=load, progress=not as_json)

    run(action, as_json, debug)


def ingest(
    path: FileArg,
    kind: Annotated[TapeKind, typer.Option(help="What the file holds.")] = TapeKind(
        "applications"),
    mapping: MappingOpt = None,
    business_date: Annotated[date | None, date_option(
        help="The batch's business date (default: its latest date, at most today). A "
             "repayment tape's rows are known from this date (default: their month end plus "
             "the configured tape lag).")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Load your own loan tape into the warehouse through the validation gate (idempotent on
    the natural key; bad rows go to quarantine, a bad batch is rejected whole)."""
    from pipelines.ingest.load import ingest_file
    from pipelines.warehouse.engine import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        wh = Warehouse.from_settings(settings)
        wh.init()
        result = ingest_file(wh, path, kind.value, mapping,
                             chunk_rows=settings.ingest.chunk_rows, settings=settings,
                             business_date=business_date)
        return vars(result)

    run(action, as_json, debug)


def validate(
    path: FileArg,
    kind: Annotated[SuiteKind, typer.Option(help="What the file holds.")] = SuiteKind(
        "applications"),
    mapping: MappingOpt = None,
    business_date: Annotated[date | None, date_option(
        help="The batch's business date (default: its latest date, at most today).")] = None,
    record: Annotated[bool, typer.Option(
        help="Store the verdict and quarantine rows in the warehouse (default: dry run).")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run the validation gate alone on a file and print its verdict (exit 1 if rejected)."""
    from pipelines.ingest.dry_run import validate_file
    from pipelines.validation.gate import BatchRejected
    from pipelines.warehouse.engine import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        wh = Warehouse.from_settings(settings)
        wh.init()  # the trailing row counts live there, even for a dry run
        try:
            result = validate_file(settings, path, kind.value, mapping, business_date, wh,
                                   record=record)
        except BatchRejected as exc:
            return {"ok": False, "error": str(exc), **exc.result.summary()}
        return result.summary()

    run(action, as_json, debug)


def summary(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Counts and date ranges of what the warehouse holds."""
    from pipelines.simulation.book import warehouse_summary
    from pipelines.warehouse.engine import Warehouse

    run(lambda s: warehouse_summary(Warehouse.from_settings(s)), as_json, debug)
