"""The day's report: its figures in the report folder, and its summary in a few lines for people
(Prefect artifact, CLI)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pipelines.monitoring import plots
from pipelines.monitoring.alerts import AlertOutcome
from pipelines.monitoring.context import DayContext, DriftFindings, MonitorResult, PortfolioFindings
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.monitoring import metric_history

_DPI = 80


def day_figures(ctx: DayContext, drift: DriftFindings, portfolio: PortfolioFindings,
                wh: Warehouse) -> dict[str, Path]:
    """PSI over time (changes daily), roll-rate heatmap and vintage curves (change when a tape
    month arrives: re-drawn only when their numbers changed, see ``_save_once``)."""
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if drift.evidently is not None and drift.evidently.html_path is not None:
        paths["drift_report"] = drift.evidently.html_path
    if not ctx.plots:
        return paths
    history = metric_history(wh, ["score_psi", "csi.%"], "all", ctx.business_date)
    path = ctx.report_dir / "psi_over_time.png"
    plots.psi_over_time(history, ctx.cfg.psi_bands).savefig(path, dpi=_DPI)
    paths["psi_over_time"] = path
    rolls, matrix, curves = portfolio.rolls, portfolio.roll_matrix, portfolio.curves
    if matrix is not None and rolls is not None and len(rolls):
        month = rolls["next_month"].iloc[0].date()
        paths["roll_rates"] = _save_once(
            ctx, "roll_rates", matrix,
            lambda: plots.roll_rate_heatmap(matrix, f"Roll rates into {month}"))
    if curves is not None and len(curves):
        paths["vintage_curves"] = _save_once(ctx, "vintage_curves", curves,
                                             lambda: plots.vintage_figure(curves))
    return paths


def _save_once(ctx: DayContext, name: str, data: pd.DataFrame,
               draw: Callable[[], Figure]) -> Path:
    """Draw a figure whose content is a function of ``data`` only once per distinct content
    (cache keyed by a hash of the numbers), then copy it into the day's report folder."""
    digest = hashlib.sha1(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes()
                          + str(list(data.columns)).encode()).hexdigest()[:16]
    cached = ctx.settings.reports_dir / "monitoring" / "figures" / f"{name}-{digest}.png"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        draw().savefig(cached, dpi=_DPI)
    target = ctx.report_dir / f"{name}.png"
    shutil.copyfile(cached, target)
    return target


_SUMMARY_ROWS = [
    ("score_psi", "score PSI", ".3f"), ("drifted_share", "drifted feature share (Evidently)",
                                        ".0%"),
    ("estimated_auc", "estimated AUC (from PDs)", ".3f"),
    ("estimated_bad_rate", "estimated bad rate", ".2%"),
    ("decision_rate.approve", "approval rate", ".1%"),
    ("auto_decision_rate", "decided automatically (approve or decline)", ".1%"),
    ("review_queue_per_day", "review queue per business day", ".1f"),
    ("auto_approved_bad_rate", "bad rate of auto-approved matured loans", ".2%"),
    ("early_delinquency", "early delinquency, observed/expected", ".2f"),
    ("forward_roll.current", "roll current -> 1-30", ".2%"),
    ("forward_roll.1-30", "roll 1-30 -> 31-60", ".1%"),
    ("forward_roll.31-60", "roll 31-60 -> 61-90", ".1%"),
]


def monitoring_summary_markdown(result: MonitorResult) -> str:
    """The day in a few lines for people (Prefect artifact, CLI): headline checks with their
    band, the alerts raised, the retraining decision and where the reports are."""
    m = result.metrics[result.metrics["segment"] == "all"].set_index("metric")
    lines = [f"### Monitoring {result.business_date}",
             f"Window {result.window_start}..{result.window_end}: "
             f"{result.n_applications:,} applications, {result.n_scored:,} scored.", "",
             "| check | value | band |", "| --- | --- | --- |"]
    for metric, label, fmt in _SUMMARY_ROWS:
        if metric in m.index and m.loc[metric, "value"] is not None \
                and not pd.isna(m.loc[metric, "value"]):
            band = m.loc[metric, "band"]
            lines.append(f"| {label} | {format(m.loc[metric, 'value'], fmt)} | "
                         f"{'' if band is None or pd.isna(band) else band} |")
    csi = m[m.index.str.startswith("csi.")]
    if len(csi):
        top = csi["value"].astype(float).idxmax()
        lines.append(f"| largest CSI: {top[4:]} | {csi.loc[top, 'value']:.3f} | "
                     f"{csi.loc[top, 'band'] or ''} |")
    ranges = m[m.index.str.startswith("out_of_range.")]
    if len(ranges):
        top = ranges["value"].astype(float).idxmax()
        lines.append(f"| largest share outside the training range: {top[13:]} | "
                     f"{ranges.loc[top, 'value']:.1%} | {ranges.loc[top, 'band'] or ''} |")
    air = result.metrics[result.metrics["metric"] == "adverse_impact_ratio"].dropna(
        subset=["value"])
    if len(air):
        low = air.loc[air["value"].astype(float).idxmin()]
        lines.append(f"| lowest adverse-impact ratio: {low['segment']} | {low['value']:.2f} | "
                     f"{low['band'] or ''} |")
    lines.append("")
    alerts = "; ".join(f"{a.condition_key} ({_alert_state(a)})" for a in result.alerts)
    lines.append(f"**Alerts:** {alerts or 'none'}")
    d = result.decision
    lines.append(f"**Retraining:** {d.status}" + (f": {'; '.join(d.reasons)}" if d.reasons
                                                  else ""))
    if d.response:
        lines.append(f"**Response:** {d.response} ({d.kind})")
    if result.report_paths:
        lines.append("**Reports:** " + ", ".join(f"{k} `{v}`"
                                                 for k, v in result.report_paths.items()))
    return "\n".join(lines) + "\n"


def _alert_state(a: AlertOutcome) -> str:
    if a.suppressed:
        return "suppressed, cool-down"
    if a.already_stored:
        return "already raised today"
    return f"delivered to {a.delivered}/{a.receivers}" if a.receivers else "stored, no receiver"
