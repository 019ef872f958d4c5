"""The daily runs by hand: ``score``, ``backfill``, ``monitor``, ``collections``, ``report``
(each the Prefect flow its deployment runs on schedule)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from flows.cli.options import DebugOpt, JsonOpt
from flows.cli.support import date_option, run
from pipelines.core.settings import Settings


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
