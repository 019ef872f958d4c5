"""Prefect flow ``daily-monitoring``: the monitoring stage for one business date, its summary as
an artifact, and — when the retrain policy fires — the training flow: through the ``retraining``
deployment when a Prefect server is configured, as a subflow otherwise."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import IO_RETRIES, alert_on_failure, flow_settings, scheduled_date
from pipelines.champion import Champion, current_champion
from pipelines.core.settings import Settings
from pipelines.monitoring.context import MonitorResult
from pipelines.monitoring.day import monitor_day
from pipelines.monitoring.policy import record_launch
from pipelines.monitoring.report import monitoring_summary_markdown
from pipelines.monitoring.retrain_rules import RetrainDecision
from pipelines.warehouse.engine import warehouse_for

RETRAINING_DEPLOYMENT = "training/retraining"


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def load_champion(settings: Settings) -> Champion:
    return current_champion(settings)


@task(cache_policy=NO_CACHE)
def monitor(settings: Settings, business_date: date, champion: Champion,
            plots: bool = True) -> MonitorResult:
    return monitor_day(settings, warehouse_for(settings.warehouse), business_date,
                       champion.reference, champion.description, plots)


def start_retraining(settings: Settings, day: date,
                     decision: RetrainDecision) -> dict[str, Any]:
    """One retraining run per trigger: the policy's cool-down holds back repeats across days,
    the trigger's run id (recorded before the launch, and Prefect's idempotency key) holds
    back a second run when the same day is monitored again."""
    if decision.launched is not None:
        get_run_logger().info("retraining for %s already started: %s", decision.run_id,
                              decision.launched)
        return {**decision.launched, "already_started": True}
    triggered_by = f"monitoring {day.isoformat()}: " + "; ".join(decision.reasons)
    wh = warehouse_for(settings.warehouse)
    if settings.prefect_api_url:
        from prefect.deployments import run_deployment

        run = run_deployment(RETRAINING_DEPLOYMENT, parameters={"triggered_by": triggered_by,
                                                                "response": decision.response},
                             timeout=0, idempotency_key=decision.run_id)
        launch = {"deployment": RETRAINING_DEPLOYMENT, "flow_run_id": str(run.id)}
        record_launch(wh, day, launch)
        return launch
    from flows.training import training

    record_launch(wh, day, {"subflow": "training", "started": True,
                            "response": decision.response})
    return {"response": decision.response,
            **training(triggered_by=triggered_by, response=decision.response)}


@flow(name="daily-monitoring", on_failure=[alert_on_failure])
def daily_monitoring(business_date: date | None = None, retrain: bool = True) -> dict[str, Any]:
    settings = flow_settings()
    day = scheduled_date(business_date)
    champion = load_champion(settings)
    result = monitor(settings, day, champion)
    get_run_logger().info("monitored %s against champion v%s: %d alert(s), retrain %s", day,
                          champion.version, len(result.alerts),
                          result.decision.status)
    create_markdown_artifact(monitoring_summary_markdown(result),
                             key=f"monitoring-{day.isoformat()}",
                             description=f"daily monitoring {day}")
    summary: dict[str, Any] = {"business_date": day.isoformat(),
                               "alerts": result.alert_keys(),
                               "retrain": result.decision.status}
    if retrain and result.decision.fire:
        summary["retraining"] = start_retraining(settings, day, result.decision)
    return summary
