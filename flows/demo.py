"""Prefect flow ``demo``: a simulated quarter in one flow run.

A Prefect flow run costs about a second here, so the day loop does not start a flow per day: each
day calls the same tasks and stage functions the ``daily-scoring`` and ``daily-monitoring``
deployments run (ingest through the gate, ``score_day``, ``monitor_day``), and only training —
the first model and any retraining the monitoring policy triggers — runs as a subflow, ending
in the promotion flow like every scheduled training.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flows.common import flow_settings
from flows.monitoring import load_champion, monitor, start_retraining
from flows.report import write_pages
from flows.training import training
from pipelines.champion import NoChampionError
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.monitoring.measure import _reference_scores as reference_scores
from pipelines.monitoring.pages import index_path
from pipelines.monitoring.reference import accept_reference_reset, pending_reset
from pipelines.monitoring.workspace import workspace_dir
from pipelines.scoring.collections import build_collections_queue
from pipelines.scoring.run import score_day
from pipelines.simulation.demo import (
    DemoPlan,
    claim_home,
    day_feed,
    ingest_day,
    load_history,
    markdown_table,
    require_first_champion,
    simulate_demo_book,
    use_demo_salt,
)
from pipelines.simulation.demo import weekly_table as demo_weekly_table
from pipelines.warehouse.engine import Warehouse, warehouse_for


@task(cache_policy=NO_CACHE)
def ingest(settings: Settings, feed: Any) -> dict[str, Any]:
    return ingest_day(settings, warehouse_for(settings.warehouse), feed)


@task(cache_policy=NO_CACHE)
def score(settings: Settings, day: date) -> Any:
    return score_day(settings, warehouse_for(settings.warehouse), day)


def _bar(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=not enabled, transient=False)


@flow(name="demo")
def demo(days: int = 120, per_day: int = 400, scenario: str = "used_car_mix",
         history_per_day: int = 60, onset_day: int | None = None,
         progress: bool = True) -> dict[str, Any]:
    plan = DemoPlan(days=days, per_day=per_day, history_per_day=history_per_day,
                    scenario=scenario, onset_day=onset_day)
    use_demo_salt()
    settings = plan.settings_for(flow_settings())
    logger = get_run_logger()
    t0 = time.perf_counter()
    claim_home(settings, plan)
    wh = warehouse_for(settings.warehouse)
    wh.init()
    book = simulate_demo_book(plan, settings.seed, settings.simulate.default_rate,
                              settings.simulate.n_dealers)
    loaded = load_history(wh, book, plan)
    logger.warning("history loaded: %s (%.0f s)", loaded, time.perf_counter() - t0)
    first = training(triggered_by="demo: first model")
    require_first_champion(first)
    first["epd"] = first_family_model("epd", "EPD")
    first["roll"] = first_family_model("roll", "roll-forward")
    first["queue"] = collections_queue(settings, None)  # the history's last tape month
    champion = load_champion(settings)
    retrainings: list[dict[str, Any]] = []
    with _bar(progress) as bar:
        job = bar.add_task(f"simulating {days} business days ({scenario})", total=days)
        for day in plan.demo_days():
            if "repayments" in ingest(settings, day_feed(book, day)):  # a month's tape
                collections_queue(settings, day)
            score(settings, day)
            result = monitor(settings, day, champion, plan.plots_on(day))
            if day.weekday() == 6 or day == plan.demo_end:  # a week's end: its pages
                write_pages(settings, day, reference_scores(settings, champion.reference))
            if result.decision.fire:
                retrainings.append({"day": day.isoformat(), "reasons": result.decision.reasons,
                                    **start_retraining(settings, day, result.decision)})
                champion = load_champion(settings)
            elif pending_reset(wh, champion.version, day, plan.review_days):
                retrainings.append({"day": day.isoformat(), "response": "reference_reset",
                                    **accept_reference_reset(settings, wh, champion, day,
                                                             "demo: risk analyst review")})
            bar.advance(job)
    return _finish(settings, wh, plan, first, retrainings, time.perf_counter() - t0)


def first_family_model(family: str, what: str) -> dict[str, Any]:
    """An auxiliary family's first model (early payment default, collections roll-forward),
    trained and promoted like the PD model's; a book too young or too small for its label
    leaves it out (the PD decides alone; no collections queue)."""
    try:
        return training(triggered_by=f"demo: first {what} model", family=family)
    except CreditflowError as exc:
        get_run_logger().warning("no %s model: %s", what, exc)
        return {"error": str(exc)}


@task(cache_policy=NO_CACHE)
def collections_queue(settings: Settings, day: date | None) -> dict[str, Any] | None:
    """The newest tape month's collections queue as known on ``day`` (default: the newest
    business date); None: no roll-forward champion, as when its first model was refused."""
    try:
        return build_collections_queue(settings, warehouse_for(settings.warehouse), as_of=day)
    except NoChampionError:
        return None


def _finish(settings: Settings, wh: Warehouse, plan: DemoPlan, first: dict[str, Any],
            retrainings: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    table = demo_weekly_table(wh, plan, tuple(r.reason for r in settings.epd.rules))
    create_table_artifact(table.astype(str).to_dict("records"), key="demo-weeks",
                          description="the demo, week by week")
    summary = {
        "plan": {"days": plan.days, "per_day": plan.per_day, "scenario": plan.scenario,
                 "demo_start": plan.demo_start.isoformat(), "onset": plan.onset.isoformat()},
        "first_model": first, "retrainings": retrainings,
        "weeks": table.to_dict("records"), "seconds": round(seconds, 1),
        "open": where_to_look(settings),
    }
    create_markdown_artifact(markdown_table(table), key="demo-summary")
    return summary


def where_to_look(settings: Settings) -> dict[str, str]:
    """The commands and paths that open what the demo made."""
    return {
        "risk_pages": str(index_path(settings)),
        "evidently_ui": f".venv/bin/evidently ui --workspace "
                        f"{workspace_dir(settings.reports_dir)} --host 127.0.0.1",
        "mlflow_ui": f".venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri} "
                     f"--host 127.0.0.1",
        "drift_reports": str(settings.reports_dir / "drift"),
        "monitoring_plots": str(settings.reports_dir / "monitoring"),
        "validation_reports": str(settings.reports_dir / "validation"),
        "warehouse": settings.warehouse,
        "prefect_ui": "PREFECT_HOME=" + str(settings.prefect_home) +
                      " .venv/bin/prefect server start --host 127.0.0.1",
    }
