"""Prefect flow ``risk-report``: the risk team's pages for one business date: the week's and the
month's risk reports that cover it (to date until the period ends), then the index of every
page; the week's page as a link artifact."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import IO_RETRIES, alert_on_failure, flow_settings, scheduled_date
from pipelines.champion import NoChampionError, current_champion
from pipelines.core.settings import Settings
from pipelines.monitoring.measure import _reference_scores as reference_scores
from pipelines.monitoring.pages import index_path, link
from pipelines.monitoring.risk_report import write_day_reports
from pipelines.warehouse.engine import warehouse_for


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def champion_reference_scores(settings: Settings) -> np.ndarray | None:
    """The champion's reference scores (the score distribution's comparison), None when there
    is no champion yet."""
    try:
        champion = current_champion(settings)
    except NoChampionError:
        return None
    return None if champion.reference is None else reference_scores(settings, champion.reference)


@task(cache_policy=NO_CACHE)
def write_pages(settings: Settings, day: date, reference: np.ndarray | None) -> dict[str, str]:
    written = write_day_reports(settings, warehouse_for(settings.warehouse), day, reference)
    return {r.period.kind: link(settings, r.path) for r in written}


@flow(name="risk-report", on_failure=[alert_on_failure])
def risk_report(business_date: date | None = None) -> dict[str, Any]:
    settings = flow_settings()
    day = scheduled_date(business_date)
    pages = write_pages(settings, day, champion_reference_scores(settings))
    index = link(settings, index_path(settings))
    get_run_logger().info("risk pages for %s: week %s, month %s; index %s", day,
                          pages["week"], pages["month"], index)
    if pages["week"].startswith(("http://", "https://")):
        create_link_artifact(pages["week"], link_text=f"risk report, week of {day}",
                             key=f"risk-report-{day.isoformat()}")
    return {"business_date": day.isoformat(), **pages, "index": index}
