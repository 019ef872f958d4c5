"""Prefect flow ``collections``: once a month, after the tape arrived, optionally the roll-forward
model's retraining and promotion (the ``training`` flow, family "roll"), then the month end's
collections queue scored with the roll champion (``pipelines.scoring.collections``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import IO_RETRIES, alert_on_failure, flow_settings
from pipelines.core.settings import Settings
from pipelines.scoring.collections import build_collections_queue
from pipelines.warehouse.engine import warehouse_for


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def queue_task(settings: Settings, month_end: date | None) -> dict[str, Any]:
    return build_collections_queue(settings, warehouse_for(settings.warehouse), month_end)


@flow(name="collections", on_failure=[alert_on_failure])
def collections(month_end: date | None = None, retrain: bool = False,
                triggered_by: str = "schedule") -> dict[str, Any]:
    """``month_end``: the tape month to queue (default: the newest known). ``retrain``: train
    and promote the roll-forward model first (its newest month's outcome has just arrived)."""
    settings = flow_settings()
    out: dict[str, Any] = {}
    if retrain:
        from flows.training import training

        out["training"] = training(triggered_by=triggered_by, family="roll")
    out["queue"] = queue_task(settings, month_end)
    q = out["queue"]
    get_run_logger().info("collections queue %s: %s loans, expected loss %s, stages %s",
                          q["month_end"], q["loans"], q["expected_loss"], q["stages"])
    create_markdown_artifact(
        "\n".join(["### Collections queue", "", "| item | value |", "| --- | --- |",
                   *(f"| {k} | {v} |" for k, v in q.items())]),
        key="collections-queue", description="the month end's collections queue")
    return out
