"""Prefect flow ``training``: validate -> features -> fit -> calibrate -> evaluate -> log/register,
then the ``promotion`` flow unless told not to. Every step is a ``pipelines`` function.

Nothing here is cached: each step reads the warehouse or the registry, whose state an input hash
does not capture, so a cached result could be stale.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import IO_RETRIES, alert_on_failure, flow_settings
from pipelines.core.settings import Settings
from pipelines.training.evaluate import evaluate
from pipelines.training.track import log_and_register, open_run
from pipelines.training.train import calibrate, fit_model
from pipelines.training.trainset import load_training_set, validate_training_set, windows_for
from pipelines.warehouse.engine import warehouse_for

step = task(cache_policy=NO_CACHE)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def load_data(settings: Settings, train_end: date | None, oot_months: int | None) -> Any:
    wh = warehouse_for(settings.warehouse)
    windows = windows_for(settings, wh, train_end, oot_months)
    return load_training_set(settings, wh, windows)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def register(settings: Settings, run: Any, ts: Any, model: Any, ev: Any, fit_info: Any,
             triggered_by: str) -> Any:
    return log_and_register(settings, run, ts, model, ev, fit_info, triggered_by)


@flow(name="training", on_failure=[alert_on_failure])
def training(train_end: date | None = None, oot_months: int | None = None,
             hpo_trials: int | None = None, promote: bool = True,
             triggered_by: str = "schedule") -> dict[str, Any]:
    settings = flow_settings()
    logger = get_run_logger()
    ts = step(validate_training_set)(settings, load_data(settings, train_end, oot_months))
    logger.info("training windows %s as of %s; rows %s", ts.windows.as_dict(),
                ts.windows.as_of, ts.rows())
    run = open_run(settings, triggered_by, ts.windows)
    try:
        booster, fit_info = step(fit_model)(settings, ts, run, hpo_trials)
        model = step(calibrate)(settings, booster, ts)
        ev = step(evaluate)(settings, model, ts)
        result = register(settings, run, ts, model, ev, fit_info, triggered_by)
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish("FINISHED")
    logger.info("registered %s version %s (challenger)", result.model_name, result.version)
    create_markdown_artifact(_markdown(result.headline()), key="training-result",
                             description="training run")
    summary: dict[str, Any] = {"training": result.headline()}
    if promote:
        from flows.promotion import promotion

        # the version this run registered, not whatever the alias points at by now
        summary["promotion"] = promotion(triggered_by=f"training run {result.run_id}",
                                         challenger_version=result.version)
    return summary


def _markdown(headline: dict[str, Any]) -> str:
    rows = [f"| {k} | {v} |" for k, v in headline.items() if k != "windows"]
    windows = [f"| window {k} | {v} |" for k, v in headline.get("windows", {}).items()]
    return "\n".join(["### Training run", "", "| item | value |", "| --- | --- |", *rows,
                      *windows])
