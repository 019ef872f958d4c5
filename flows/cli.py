"""The ``creditflow`` command line: parses arguments, calls stages or flows, prints a summary.

Every command takes ``--json`` (one JSON object on stdout) and ``--debug`` (tracebacks). Errors are
one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console

from flows.cli_support import OneLineUsage, date_option, run
from pipelines.core.settings import Settings, SimulateSettings
from pipelines.ingest.mapping import KINDS as TAPE_KINDS
from pipelines.validation.quarantine import KINDS as SUITE_KINDS

# Closed sets as enumerations: click checks them (a usage error, exit 2) and --help lists them.
TapeKind = StrEnum("TapeKind", {k: k for k in TAPE_KINDS})
SuiteKind = StrEnum("SuiteKind", {k: k for k in SUITE_KINDS})
Scenario = StrEnum("Scenario", {s: s for s in get_args(
    SimulateSettings.model_fields["scenario"].annotation)})


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=OneLineUsage,
                  help="creditflow: a credit-risk (PD) pipeline for auto finance.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
app.add_typer(config_app, name="config")
home_app = typer.Typer(no_args_is_help=True, help="The home folder (CREDITFLOW_HOME).")
app.add_typer(home_app, name="home")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary object on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


@app.command()
def init(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Create or migrate the warehouse schema (harmless to run twice)."""
    from pipelines.warehouse.engine import Warehouse

    def action(settings: Settings) -> dict[str, Any]:
        revision = Warehouse.from_settings(settings).init()
        return {"warehouse": Settings.masked(settings)["warehouse_url"], "revision": revision,
                "home": str(settings.home)}

    run(action, as_json, debug)


@app.command()
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


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    kind: Annotated[TapeKind, typer.Option(help="What the file holds.")] = TapeKind(
        "applications"),
    mapping: Annotated[Path | None, typer.Option(help="YAML column mapping.")] = None,
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


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    kind: Annotated[SuiteKind, typer.Option(help="What the file holds.")] = SuiteKind(
        "applications"),
    mapping: Annotated[Path | None, typer.Option(help="YAML column mapping.")] = None,
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


@app.command()
def score(
    business_date: Annotated[date, date_option("--date", help="Business date.")],
    force: Annotated[bool, typer.Option(help="Score again even if the date is completed.")]
    = False,
    dask: Annotated[bool, typer.Option(
        help="Run the chunks on a local Dask cluster (scoring.dask_workers processes); "
             "scoring.dask_address, if set, is used without this flag.")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Score one business date with the champion (and the challenger in shadow): the Prefect
    flow daily-scoring. Prints the same summary as the flow's markdown artifact."""

    def action(_s: Settings) -> dict[str, Any]:
        from flows.scoring import run_daily_scoring

        return run_daily_scoring(business_date, force=force, dask=dask)

    def render(summary: dict[str, Any]) -> None:
        from pipelines.scoring.summary import ScoreResult, day_summary_markdown

        print(day_summary_markdown(ScoreResult.from_summary(summary)))

    run(action, as_json, debug, render, flows=True)


@app.command()
def backfill(
    start: Annotated[date, date_option("--from", help="First business date.")],
    end: Annotated[date, date_option("--to", help="Last business date.")],
    force: Annotated[bool, typer.Option(help="Score completed dates again.")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Score every date of a range in ONE Prefect flow run (scoring-backfill), the stage once
    per date; completed dates are skipped unless --force; stops at the first failing date."""

    def action(_s: Settings) -> dict[str, Any]:
        from flows.scoring import scoring_backfill

        return {"days": scoring_backfill(start, end, force=force)}

    def render(summary: dict[str, Any]) -> None:
        from flows.scoring import backfill_markdown
        from pipelines.scoring.summary import ScoreResult

        print(backfill_markdown([ScoreResult.from_summary(d) for d in summary["days"]]))

    run(action, as_json, debug, render, flows=True)


@app.command()
def monitor(
    day: Annotated[date, date_option("--date", help="Business date to monitor.")],
    retrain: Annotated[bool, typer.Option(help="Start retraining when the policy fires.")] = True,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Monitor one business date (Prefect flow `daily-monitoring`): drift, stability,
    performance, roll rates; alerts; the retrain trigger."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.monitoring import daily_monitoring

        return daily_monitoring(business_date=day, retrain=retrain)

    run(action, as_json, debug, flows=True)


@app.command()
def collections(
    month: Annotated[date | None, date_option(
        "--month", help="Tape month end to queue (default: the newest known).")] = None,
    retrain: Annotated[bool, typer.Option(
        help="Train and promote the roll-forward model first.")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Build a month end's collections queue (Prefect flow `collections`): each open delinquent
    loan's roll-forward probability, expected loss and suggested stage, by expected loss."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.collections import collections as collections_flow

        return collections_flow(month_end=month, retrain=retrain, triggered_by="cli")

    run(action, as_json, debug, flows=True)


@app.command()
def report(
    day: Annotated[date, date_option("--date", help="Business date the pages cover.")],
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the risk team's pages for one business date (Prefect flow `risk-report`): its
    week's and month's risk reports and the index of every page."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.report import risk_report

        return risk_report(business_date=day)

    run(action, as_json, debug, flows=True)


@app.command()
def summary(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Counts and date ranges of what the warehouse holds."""
    from pipelines.simulation.book import warehouse_summary
    from pipelines.warehouse.engine import Warehouse

    run(lambda s: warehouse_summary(Warehouse.from_settings(s)), as_json, debug)


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Simulated business days.")] = 120,
    scenario: Annotated[Scenario, typer.Option(help="Drift scenario.")] = Scenario(
        "used_car_mix"),
    per_day: Annotated[int, typer.Option(help="Applications per demo day.")] = 400,
    history_per_day: Annotated[int, typer.Option(help="Applications per day of history.")] = 60,
    onset_day: Annotated[int | None, typer.Option(
        help="Day of the drift's onset, counted from the demo's first day (negative: before it, "
             "in the history; default: the demo's middle).")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The end-to-end demo: history, a first champion, then each simulated day ingested,
    scored and monitored; drift alerts, retraining and promotion on evidence."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.common import boot_api_in_background
        from pipelines.simulation.demo import reset_home

        reset_home(settings)  # before anything in this process opens the stores
        booting = boot_api_in_background()
        from flows.demo import demo as demo_flow

        if booting is not None:
            booting.join()
        return demo_flow(days=days, per_day=per_day, scenario=scenario.value,
                         history_per_day=history_per_day, onset_day=onset_day,
                         progress=not as_json)

    def render(summary: dict[str, Any]) -> None:
        from pipelines.simulation.demo import weeks_table

        out = Console()
        out.print(weeks_table(summary["weeks"]))
        for item in summary["retrainings"]:
            out.print(response_line(item))
        out.print(f"\n[bold]done in {summary['seconds']} s.[/bold] Open what it made:")
        for key, value in summary["open"].items():
            out.print(f"  {key:<20} {value}", highlight=False, soft_wrap=True)

    run(action, as_json, debug, render, flows=True)


def response_line(item: dict[str, Any]) -> str:
    """One drift response of the demo in words: a reference reset with its cut-off check, or a
    challenger (retraining, recalibration, early-target retraining) and its promotion verdict."""
    if item.get("response") == "reference_reset":
        check = item.get("cutoff_check") or {}
        cut = (f"; approval rate {check['approval_rate']:.1%} at approve >= "
               f"{check['approve_at']:.0f} vs target {check['target_approval_rate']:.1%} "
               f"(approve >= {check['approve_at_for_target']:.0f} would meet it)"
               if check else "")
        return f"reference reset on {item['day']} to {item.get('window')}{cut}"
    challenger = item.get("training") or item.get("recalibration") or {}
    promo = item.get("promotion", {})
    return (f"{item.get('response') or 'retraining'} on {item['day']} "
            f"({'; '.join(item.get('reasons', []))}): challenger "
            f"v{challenger.get('version', '?')} -> "
            f"{promo.get('verdict', promo.get('decision', '?'))}")


@app.command()
def train(
    train_end: Annotated[date | None, date_option(
        help="Last day of the training window.")] = None,
    oot_months: Annotated[int | None, typer.Option(help="Out-of-time window length.")] = None,
    hpo_trials: Annotated[int | None, typer.Option(help="Optuna trials (0: none).")] = None,
    hpo_timeout: Annotated[int | None, typer.Option(help="Optuna budget in seconds.")] = None,
    promote: Annotated[bool, typer.Option(help="Run the promotion flow afterwards.")] = True,
    family: Annotated[str, typer.Option(
        help="Model family: pd (the main model), epd (early payment default) or roll "
             "(collections roll-forward).")] = "pd",
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train a PD model (Prefect flow `training`), register it as challenger, then promote on
    evidence; --family epd trains the early-payment-default model under its own name."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.training import training

        return training(train_end=train_end, oot_months=oot_months, hpo_trials=hpo_trials,
                        hpo_timeout_s=hpo_timeout, promote=promote, triggered_by="cli",
                        family=family)

    run(action, as_json, debug, flows=True)


@app.command()
def promote(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Compare and print the verdict; move nothing, record nothing.")] = False,
    version: Annotated[str | None, typer.Option(
        help="Judge this version instead of the 'challenger' alias.")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Judge the challenger against the champion on the same recent out-of-time window and
    promote it if every rule passes; prints the comparison table and the verdict.

    --dry-run calls the promotion stage directly (fast, no Prefect, nothing written); without it
    the Prefect flow `promotion` runs (alias move and audit, visible in the Prefect UI). A verdict
    exits 0 whatever it is; an error (no challenger, registry unreachable) exits 1."""
    from pipelines.promotion.decision import decision_markdown

    def action(settings: Settings) -> dict[str, Any]:
        if dry_run:
            from pipelines.promotion.apply import promote_challenger
            from pipelines.warehouse.engine import Warehouse

            return promote_challenger(settings, Warehouse.from_settings(settings), dry_run=True,
                                      triggered_by=_who(), challenger_version=version).as_dict()
        from flows.promotion import promotion

        return promotion(triggered_by=_who(), challenger_version=version)

    run(action, as_json, debug, lambda s: print(decision_markdown(s)), flows=not dry_run)


@app.command()
def rollback(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Put the 'previous' model version back as champion (the stage, no Prefect) and record it
    in the promotion audit; exits 1 if there is no previous version."""
    from pipelines.promotion.rollback import rollback_champion
    from pipelines.warehouse.engine import Warehouse

    run(lambda s: rollback_champion(s, Warehouse.from_settings(s), triggered_by=_who()),
        as_json, debug)


def _who() -> str:
    """Who triggered a CLI action, for the audit record."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli:unknown"


@config_app.command("show")
def config_show(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Print the effective configuration, secrets masked."""
    from pipelines.core.settings import config_path

    def action(settings: Settings) -> dict[str, Any]:
        return {"config_file": str(config_path()), "config_hash": settings.config_hash(),
                **settings.masked()}

    def render(summary: dict[str, Any]) -> None:
        Console().print_json(json.dumps(summary, default=str))

    run(action, as_json, debug, render)


@home_app.command("relocate")
def home_relocate(
    moved_from: Annotated[Path, typer.Option("--from", help="Where the home was before.")],
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rewrite the paths a copied or moved home recorded under its old place. Every command
    does this by itself for a home that records where it is (home.json); this is for a home
    made before it did."""
    from pipelines.core.home import open_home

    def action(settings: Settings) -> dict[str, Any]:
        done = open_home(settings, moved_from)
        return done or {"from": str(moved_from), "to": str(settings.home), "mlflow": 0,
                        "warehouse": 0}

    run(action, as_json, debug)


@config_app.command("docs")
def config_docs() -> None:
    """Print the configuration reference (Markdown) generated from the settings model."""
    from pipelines.core.config_docs import reference_markdown

    print(reference_markdown())


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="creditflow")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
