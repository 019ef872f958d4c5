"""Stage: monitor one business date (Prefect-free; the ``daily-monitoring`` flow calls it).

``monitor_day`` pools the trailing ``monitoring.window_days`` of applications and champion scores
and, against the champion's training reference, measures drift, performance and the portfolio
(``pipelines.monitoring.measure``); then writes every number to ``monitoring_metrics`` (replacing
the day's rows: idempotent), draws the figures (``pipelines.monitoring.report``), raises the
alert conditions that hold (``pipelines.monitoring.conditions``) through
``pipelines.monitoring.alerts.send_alert``, decides on retraining (``pipelines.monitoring.policy``)
and logs the report, plots and metrics to the MLflow experiment ``monitoring`` (one run per
business date, reused on rerun).

Reports carry features, aggregates and dealer ids only, never an applicant identifier.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.monitoring import report, workspace
from pipelines.monitoring.alerts import send_alert
from pipelines.monitoring.conditions import policy_inputs, raised_conditions, retrain_message
from pipelines.monitoring.context import (
    ChampionDescription,
    DayContext,
    DayFindings,
    MetricRows,
    MonitorResult,
)
from pipelines.monitoring.decisions import measure_decisions
from pipelines.monitoring.measure import measure_drift, measure_performance, measure_portfolio
from pipelines.monitoring.pages import day_page
from pipelines.monitoring.policy import decide_retrain
from pipelines.monitoring.reference import current_reference
from pipelines.monitoring.retrain_rules import REFERENCE_RESET, TRIGGERED, RetrainDecision
from pipelines.monitoring.window import window_applications
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.monitoring import window_scores, write_metrics, write_monitor_manifest

log = logging.getLogger(__name__)
_TOP_FEATURES = 5  # the champion's most important features drawn on the workspace dashboard


class MonitoringError(CreditflowError):
    """Monitoring cannot run as asked (champion description or reference unusable)."""


class _Timings(dict[str, float]):
    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self[step] = round(time.perf_counter() - t0, 3)


def monitor_day(settings: Settings, wh: Warehouse, business_date: date,
                reference: pd.DataFrame, champion: dict, plots: bool = True) -> MonitorResult:
    """Monitor ``business_date``; ``champion`` = {"name", "version", "oot_auc",
    "feature_names"}, ``reference`` = the champion's training-window sample (features, ``pd``
    and optionally ``score``), e.g. from ``models.registry.load_reference``. ``plots=False``
    skips drawing the day's figures (0.2-0.6 s a day; the demo draws them weekly); metrics,
    alerts, the retrain decision and an Evidently report when one is due are the same."""
    reference, reference_source = current_reference(settings, wh, str(champion.get("version")),
                                                    reference, business_date)
    champ = _champion(champion, reference)
    cfg = settings.monitoring
    ctx = DayContext(settings, business_date, business_date - timedelta(days=cfg.window_days - 1),
                     champ, settings.reports_dir / "monitoring" / business_date.isoformat(),
                     plots)
    # Needed last, checked first: an unusable reports folder or tracking store fails the day
    # before anything is written (no metrics, alerts or retrain trigger without a manifest).
    from models.registry import ensure_experiment

    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    ctx = replace(ctx, experiment_id=ensure_experiment(settings.tracking_uri,
                                                       cfg.experiment_name,
                                                       settings.artifact_root))
    timings, rows = _Timings(), MetricRows(ctx)
    with timings.timed("load"):
        apps = window_applications(wh, ctx.window_start, business_date)
        scores = window_scores(wh, champ.version, ctx.window_start, business_date)
    with timings.timed("drift"):
        drift = measure_drift(ctx, rows, wh, apps, scores, reference)
    with timings.timed("performance"):
        performance = measure_performance(ctx, rows, wh, scores, reference)
    with timings.timed("portfolio"):
        portfolio = measure_portfolio(ctx, rows, wh)
    with timings.timed("decisions"):
        fairness = measure_decisions(ctx, rows, apps, scores)
    found = DayFindings(len(apps), len(scores), drift, performance, portfolio, fairness)
    metrics = rows.frame()
    with timings.timed("write"):
        write_metrics(wh, business_date, metrics)
    with timings.timed("plots"):
        paths = report.day_figures(ctx, drift, portfolio, wh)
    with timings.timed("alerts"):
        alerts = [send_alert(settings, wh, key, business_date, message, severity)
                  for key, message, severity in raised_conditions(ctx, found, wh, paths)]
        decision = decide_retrain(settings, wh, business_date, policy_inputs(ctx, found),
                                  champ.version)
        if decision.fire or (decision.status == TRIGGERED
                             and decision.response == REFERENCE_RESET):
            key = "retrain_trigger" if decision.fire else REFERENCE_RESET
            alerts.append(send_alert(settings, wh, key, business_date,
                                     retrain_message(ctx, decision), "info"))
    with timings.timed("workspace"):
        snapshot = _snapshot(ctx, found, metrics, reference)
    page = day_page(settings, business_date)
    with timings.timed("mlflow"):
        run_id = _log_mlflow(ctx, metrics, paths, decision, page)
    result = MonitorResult(business_date, ctx.window_start, business_date, found.n_applications,
                           found.n_scored, metrics, alerts, decision, paths, run_id,
                           dict(timings), snapshot, page, reference_source)
    _manifest(wh, result, champ)
    log.info("monitored %s: %d applications, %d metrics, %d alert(s), retrain=%s (%s)",
             business_date, found.n_applications, len(metrics), len(alerts), decision.fire,
             ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return result


def _champion(champion: dict, reference: pd.DataFrame) -> ChampionDescription:
    missing = [k for k in ("name", "version", "feature_names") if k not in champion]
    if missing:
        raise MonitoringError(f"champion description lacks {', '.join(missing)}")
    names = list(champion["feature_names"])
    absent = [f for f in names if f not in reference.columns]
    if absent or "pd" not in reference.columns:
        raise MonitoringError(
            f"reference of {champion['name']} version {champion['version']} lacks column(s) "
            f"{', '.join(absent + ([] if 'pd' in reference.columns else ['pd']))}")
    oot = champion.get("oot_auc")
    return ChampionDescription(str(champion["name"]), str(champion["version"]),
                               None if oot is None else float(oot), names,
                               [f for f in champion.get("top_features", []) if f in names])


def _snapshot(ctx: DayContext, found: DayFindings, metrics: pd.DataFrame,
              reference: pd.DataFrame) -> Path | None:
    """The day's snapshot in the Evidently workspace: on the days the figures are drawn (every
    day in production; the demo draws them weekly) and on any day the drift report ran."""
    drift, cfg = found.drift, ctx.cfg
    if drift.features is None or drift.features.empty or not (ctx.plots or drift.evidently):
        return None
    monitored = [f for f in ctx.champion.feature_names if f not in set(cfg.trend_features)]
    top = [f for f in ctx.champion.top_features if f in monitored][:_TOP_FEATURES]
    snap = workspace.day_snapshot(reference, drift.features, monitored, top,
                                  _day_figures(found, metrics), ctx.business_date,
                                  ctx.champion.version, cfg.evidently_sample_rows,
                                  cfg.drift_share_threshold, cfg.evidently_method,
                                  ctx.settings.seed)
    return workspace.record_snapshot(workspace.workspace_dir(ctx.settings.reports_dir),
                                     ctx.business_date, snap, top)


def _day_figures(found: DayFindings, metrics: pd.DataFrame) -> dict[str, float | None]:
    """Score PSI, estimated AUC, realised AUC of the latest vintage with enough bads, and the
    approval rate, as the day measured them."""
    rows = metrics[metrics["segment"] == "all"].set_index("metric")["value"]
    realised = metrics[(metrics["metric"] == "realised_auc") & metrics["band"].notna()]
    return {"score_psi": rows.get("score_psi"),
            "estimated_auc": rows.get("estimated_auc"),
            "realised_auc": None if realised.empty else realised["value"].iloc[-1],
            "approval_rate": rows.get("decision_rate.approve",
                                      0.0 if found.n_scored else None)}


def _manifest(wh: Warehouse, result: MonitorResult, champ: ChampionDescription) -> None:
    counts = {"applications": result.n_applications, "scored": result.n_scored,
              "metrics": len(result.metrics),
              "alerts_sent": sum(a.sent for a in result.alerts),
              "alerts_raised": len(result.alerts)}
    details = {"retrain": result.decision.fire, "reasons": result.decision.reasons,
               "drift_kind": result.decision.kind, "response": result.decision.response,
               "reference": result.reference,
               "alerts": result.alert_keys(), "timings": result.timings,
               "mlflow_run_id": result.mlflow_run_id,
               "reports": {k: str(v) for k, v in result.report_paths.items()},
               "page": result.page, "workspace_snapshot": str(result.snapshot_path or "")}
    write_monitor_manifest(wh, result.business_date, champ.version, counts, details)


def _mlflow_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """The 'all'-segment numbers (per-dealer and per-vintage rows stay in the warehouse)."""
    rows = metrics[(metrics["segment"] == "all") & metrics["value"].notna()]
    return {str(m): float(v) for m, v in zip(rows["metric"], rows["value"], strict=True)}


def _log_mlflow(ctx: DayContext, metrics: pd.DataFrame, paths: dict[str, Path],
                decision: RetrainDecision, page: str) -> str:
    # imported at call time, not at the top: the crash tests wrap the registry's functions in
    # place after this module is imported
    from models.registry import resume_run, run_tagged, start_run

    s = ctx.settings
    uri, exp_name = s.tracking_uri, s.monitoring.experiment_name
    label = ctx.business_date.isoformat()
    found = run_tagged(uri, ctx.experiment_id, "business_date", label)
    run = (resume_run(uri, found) if found else
           start_run(uri, exp_name, s.artifact_root, run_name=f"monitor-{label}",
                     tags={"business_date": label}))
    run.set_tags({"business_date": label, "champion_name": ctx.champion.name,
                  "champion_version": ctx.champion.version, "window_start":
                  ctx.window_start.isoformat(), "retrain": str(decision.fire).lower(),
                  "creditflow.page": page})
    run.log_metrics(_mlflow_metrics(metrics))
    run.log_frame(metrics.drop(columns=["details"]), "metrics/monitoring_metrics.csv")
    for path in paths.values():
        folder = "drift" if path.suffix == ".html" else "plots"
        run.log_file(path, folder)
    run.finish()
    return run.run_id
