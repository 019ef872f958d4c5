"""Prefect flow ``training``: the training stage (``pipelines.training.train.train_model``: data ->
features gate -> fit -> calibrate -> evaluate -> log/register) with each step run as a task, then
the ``promotion`` flow unless told not to.

Nothing here is cached: each step reads the warehouse or the registry, whose state an input hash
does not capture, so a cached result could be stale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import IO_RETRIES, alert_on_failure, flow_settings
from pipelines.core.families import family as family_of
from pipelines.core.families import family_settings
from pipelines.training.recalibrate import recalibration_challenger
from pipelines.training.train import train_model
from pipelines.warehouse.engine import warehouse_for


def as_task(fn: Callable[..., Any], *, io: bool = False) -> Any:
    """One step of the training stage as a Prefect task; I/O steps retry with backoff."""
    return task(fn, cache_policy=NO_CACHE, **(IO_RETRIES if io else {}))


@flow(name="training", on_failure=[alert_on_failure])
def training(train_end: date | None = None, oot_months: int | None = None,
             hpo_trials: int | None = None, hpo_timeout_s: int | None = None,
             promote: bool = True, triggered_by: str = "schedule",
             response: str | None = None, family: str = "pd") -> dict[str, Any]:
    """``response`` (from the monitoring policy): "recalibration" refits the champion's
    calibrator on the newest early-matured vintages, "early_retrain" trains on the
    early-performance target; otherwise an ordinary training run. ``family``: the model
    family trained and promoted (``pipelines.core.families``: "pd", "epd", the
    early-payment-default model, or "roll", the collections roll-forward model, each under its
    own name and experiment)."""
    settings = family_settings(flow_settings(), family)
    target = family_of(settings, family).target
    logger = get_run_logger()
    wh = warehouse_for(settings.warehouse)
    if response == "recalibration":
        recal = as_task(recalibration_challenger, io=True)(settings, wh, triggered_by)
        logger.info("registered recalibration challenger %s", recal)
        return _promote({"recalibration": recal}, recal["version"], recal["run_id"], promote)
    result = train_model(settings, wh, train_end=train_end,
                         oot_months=oot_months, hpo_trials=hpo_trials,
                         hpo_timeout_s=hpo_timeout_s, triggered_by=triggered_by, step=as_task,
                         target="early" if response == "early_retrain" else target)
    logger.info("registered %s version %s (challenger); windows %s; rows %s", result.model_name,
                result.version, result.windows,
                {w: c["rows"] - c.get("quarantined", 0) for w, c in result.counts.items()})
    create_markdown_artifact(_markdown(result.headline()), key="training-result",
                             description="training run")
    return _promote({"training": result.headline()}, result.version, result.run_id, promote,
                    family)


def _promote(summary: dict[str, Any], version: str, run_id: str,
             promote: bool, family: str = "pd") -> dict[str, Any]:
    if promote:
        from flows.promotion import promotion

        # the version this run registered, not whatever the alias points at by now
        summary["promotion"] = promotion(triggered_by=f"training run {run_id}",
                                         challenger_version=version, family=family)
    return summary


def _markdown(headline: dict[str, Any]) -> str:
    rows = [f"| {k} | {v} |" for k, v in headline.items() if k != "windows"]
    windows = [f"| window {k} | {v} |" for k, v in headline.get("windows", {}).items()]
    return "\n".join(["### Training run", "", "| item | value |", "| --- | --- |", *rows,
                      *windows])
