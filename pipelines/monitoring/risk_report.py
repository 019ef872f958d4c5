"""The periodic risk report: one self-contained HTML page per week and per month (see
``pipelines.monitoring.pages``), read from what the warehouse holds for the period.

Sections: volume and decision rates; the score distribution against the champion's reference;
PSI/CSI with bands; estimated against realised performance; the roll-rate matrix; vintage
curves; early delinquency by dealer (flagged first); alerts and the response to each; champion
and challenger history; data quality. The numbers are those monitoring stored on the period's
last monitored date (its pooled window), so the page agrees with the alerts that were sent.
Pages carry aggregates and dealer ids only, never an applicant identifier.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.core.settings import Settings
from pipelines.monitoring import plots
from pipelines.monitoring.auxiliary_page import auxiliary_section
from pipelines.monitoring.html_page import (
    Section,
    cards,
    esc,
    figure_img,
    frame_key,
    memo_figure_img,
    page,
    table,
)
from pipelines.monitoring.pages import Period, index_path, month_of, report_path, week_of
from pipelines.monitoring.report_index import write_index
from pipelines.monitoring.response import alert_responses
from pipelines.warehouse import reporting as R
from pipelines.warehouse.engine import Warehouse


@dataclass(frozen=True)
class RiskReport:
    period: Period
    path: Path
    sections: list[str]  # the section keys, in page order


def write_day_reports(settings: Settings, wh: Warehouse, day: date,
                      reference_scores: np.ndarray | None) -> list[RiskReport]:
    """The pages covering ``day``: its week's and its month's report (to date until the period
    ends), then the index."""
    written = [write_risk_report(settings, wh, period, reference_scores)
               for period in (week_of(day), month_of(day))]
    write_index(settings)
    return written


def write_risk_report(settings: Settings, wh: Warehouse, period: Period,
                      reference_scores: np.ndarray | None) -> RiskReport:
    """Build the period's page and write it (atomically) under ``reports/risk``."""
    latest = R.latest_metrics(wh, period.start, period.end)
    sections = [
        _volume(wh, period), _scores(wh, period, latest, reference_scores),
        _stability(latest), _performance(wh, period, latest), _roll_rates(latest),
        auxiliary_section(latest), _vintages(latest), _dealers(latest, settings),
        _alerts(wh, period), _models(wh), _data_quality(wh, period)]
    path = report_path(settings, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    monitored = latest["business_date"].max() if len(latest) else None
    subtitle = (f"monitoring figures of {monitored.date()} (pooled window)" if monitored
                is not None else "no monitored date in this period")
    home = os.path.relpath(index_path(settings), path.parent)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page(f"Risk report: {period.title}", subtitle, sections, home),
                   encoding="utf-8")
    os.replace(tmp, path)
    return RiskReport(period, path, [s.key for s in sections])


def _details(row: pd.Series) -> dict:
    return json.loads(row["details"]) if isinstance(row["details"], str) else {}


def _volume(wh: Warehouse, period: Period) -> Section:
    volume = R.daily_volume(wh, period.start, period.end)
    scored = volume[["approve", "review", "decline"]].to_numpy().sum()
    rate = (lambda col: volume[col].sum() / scored) if scored else (lambda col: float("nan"))
    head = cards([("applications", f"{volume['applications'].sum():,}"),
                  ("scored", f"{scored:,}"), ("approved", f"{rate('approve'):.1%}"),
                  ("referred to review", f"{rate('review'):.1%}"),
                  ("declined", f"{rate('decline'):.1%}"),
                  ("decided automatically", f"{1 - rate('review'):.1%}")])
    if volume.empty:
        return Section("volume", "Volume and decisions", head + table(
            volume, empty="No applications in this period."))
    shown = volume.assign(business_date=volume["business_date"].dt.date)
    return Section("volume", "Volume and decisions", head + figure_img(
        plots.daily_decisions(volume), "Stacked bars of approved, referred and declined "
        "applications per business date") + table(shown))


def _scores(wh: Warehouse, period: Period, latest: pd.DataFrame,
            reference: np.ndarray | None) -> Section:
    counts = R.score_counts(wh, period.start, period.end)
    if counts.empty or reference is None or not len(reference):
        why = "No scores in this period." if counts.empty else "No reference sample loaded."
        return Section("scores", "Score distribution", f'<p class="note">{esc(why)}</p>')
    points, n = counts["points"].to_numpy(float), counts["n"].to_numpy(float)
    mean = float((points * n).sum() / n.sum())
    body = cards([("mean score", f"{mean:.1f}"),
                  ("reference mean", f"{float(np.mean(reference)):.1f}")])
    body += figure_img(plots.score_distribution(points, n, reference),
                       "Histogram of this period's scores against the training reference")
    return Section("scores", "Score distribution against the reference", body)


def _stability(latest: pd.DataFrame) -> Section:
    rows = latest[(latest["segment"] == "all") & (
        latest["metric"].eq("score_psi") | latest["metric"].str.startswith("csi.")
        | latest["metric"].eq("drifted_share"))]
    shown = pd.DataFrame({
        "measure": rows["metric"].str.replace("csi.", "CSI ", regex=False).str.replace(
            "score_psi", "score PSI").str.replace("drifted_share", "drifted share (Evidently)"),
        "value": rows["value"].astype(float), "band": rows["band"].fillna("")})
    note = ('<p class="note">Bands: below 0.10 stable, 0.10 to 0.25 watch, above 0.25 shift; '
            "each measure pools the monitoring window ending on the date above.</p>")
    return Section("stability", "Population stability: PSI and CSI", note + table(
        shown, {"value": ".3f"}, [f"band-{b}" for b in shown["band"]],
        empty="No monitoring in this period."))


def _performance(wh: Warehouse, period: Period, latest: pd.DataFrame) -> Section:
    est = latest[(latest["metric"] == "estimated_auc") & (latest["segment"] == "all")]
    body = ""
    if len(est):
        d = _details(est.iloc[0])
        body += cards([("estimated AUC", f"{est['value'].iloc[0]:.3f}"),
                       ("champion OOT AUC", "n/a" if d.get("oot_auc") is None
                        else f"{d['oot_auc']:.3f}")])
    realised = latest[latest["metric"].isin(["realised_auc", "realised_bad_rate",
                                             "predicted_bad_rate"])]
    wide = realised.pivot_table(index="segment", columns="metric", values="value",
                                aggfunc="first").reset_index()
    body += table(wide.rename(columns={"segment": "vintage"}), {
        "realised_auc": ".3f", "realised_bad_rate": ".2%", "predicted_bad_rate": ".2%"},
        empty="No matured vintage with realised performance yet.")
    series = R.metric_series(wh, period.start, period.end, ["estimated_auc"])
    if len(series):
        body += figure_img(plots.metric_lines(series, "Estimated AUC over the period", "AUC"),
                           "Line of the estimated AUC per monitored business date")
    return Section("performance", "Estimated against realised performance", body)


def _roll_rates(latest: pd.DataFrame) -> Section:
    rows = latest[latest["metric"] == "roll_matrix"]
    if rows.empty:
        return Section("roll-rates", "Roll rates", '<p class="note">No repayment tape '
                       "transitions on record yet.</p>")
    d = _details(rows.iloc[0])
    matrix = pd.DataFrame.from_dict(d["matrix"], orient="index").astype(float)
    rolls = latest[latest["metric"].str.startswith("forward_roll.")]
    shown = pd.DataFrame({"from bucket": rolls["metric"].str[len("forward_roll."):],
                          "forward roll rate": rolls["value"].astype(float),
                          "band": rolls["band"].fillna("")})
    title = f"Roll rates from {d.get('month')}"
    body = memo_figure_img(  # the same all month, on the week's and the month's page
        ("roll_rate_heatmap", title, frame_key(matrix)),
        lambda: plots.roll_rate_heatmap(matrix, title),
        "Heatmap of the share of loans moving between delinquency buckets")
    return Section("roll-rates", "Roll rates", body + table(
        shown, {"forward roll rate": ".2%"}, [f"band-{b}" for b in shown["band"]])
        + _loss_forecast(latest))


def _loss_forecast(latest: pd.DataFrame) -> str:
    """The charge-offs projected from the roll rates (``pipelines.monitoring.loss``) and the
    back-test of the projection made as many months before, month by month."""
    fc = latest[latest["metric"] == "loss_forecast_charge_offs"]
    bt = latest[latest["metric"] == "loss_backtest_ratio"]
    if fc.empty or bt.empty:
        return ""
    f, b = _details(fc.iloc[0]), _details(bt.iloc[0])
    months = range(1, len(f["per_month"]) + 1)
    frame = pd.DataFrame({"month ahead": list(months), "projected now": f["per_month"],
                          f"projected on {b['made_on']}": b["forecast"],
                          "charged off since": b["actual"]})
    head = (f"<h3>Loss forecast from the roll rates</h3><p>{f['open_loans']:,} open loans: "
            f"{fc.iloc[0]['value']:,.0f} charge-offs expected over {len(months)} months "
            f"({f['rate']:.2%}). Back-test: the projection made on {esc(str(b['made_on']))} "
            f"for its {b['open_loans']:,} open loans against what they did "
            f"(projected / actual {_ratio(bt.iloc[0]['value'])}).</p>")
    return head + table(frame, {"projected now": ".1f",
                                f"projected on {b['made_on']}": ".1f"})


def _ratio(value: float | None) -> str:
    return "n/a: nothing charged off" if value is None or pd.isna(value) else f"{value:.2f}"


def _vintages(latest: pd.DataFrame) -> Section:
    rows = latest[latest["metric"] == "vintage_bad_rate"]
    if rows.empty:
        return Section("vintages", "Vintage curves", '<p class="note">No vintage on record '
                       "yet.</p>")
    curves = {}
    for _, row in rows.iterrows():
        curve = _details(row)["curve"]
        curves[row["segment"].removeprefix("vintage=")] = pd.Series(
            curve, index=range(1, len(curve) + 1))
    curves = pd.DataFrame(curves).T.sort_index()
    return Section("vintages", "Vintage curves", memo_figure_img(  # changes with each tape
        ("vintage_figure", frame_key(curves)), lambda: plots.vintage_figure(curves),
        "Cumulative bad rate by month on book, one line per origination month"))


def _dealers(latest: pd.DataFrame, settings: Settings) -> Section:
    rows = latest[(latest["metric"] == "early_delinquency") & (latest["segment"] != "all")]
    info = [_details(r) for _, r in rows.iterrows()]
    shown = pd.DataFrame({
        "dealer": rows["segment"].str.removeprefix("dealer_id="),
        "flagged": rows["band"].eq("alert").map({True: "yes", False: ""}),
        "observed": [d.get("observed") for d in info],
        "expected": [d.get("expected") for d in info],
        "observed/expected": rows["value"].astype(float),
        "p-value": [d.get("p_value") for d in info]})
    shown = shown.sort_values(["flagged", "observed/expected"], ascending=[False, False])
    cfg = settings.monitoring
    note = (f'<p class="note">Loans reaching {esc(cfg.early_delinquency_bucket)} or worse '
            f"within {cfg.early_delinquency_mob} months on book; dealers with at least "
            f"{cfg.dealer_min_events} events or flagged.</p>")
    return Section("dealers", "Early delinquency by dealer", note + table(
        shown, {"expected": ".1f", "observed/expected": ".2f", "p-value": ".2g"},
        ["flag" if f else "" for f in shown["flagged"]],
        empty="No dealer with enough early delinquencies to show."))


def _alerts(wh: Warehouse, period: Period) -> Section:
    shown = alert_responses(wh, period.start, period.end)
    return Section("alerts", "Alerts and the response", table(
        shown, row_class=["flag" if s in ("critical", "error") else "" for s in
                          shown.get("severity", pd.Series(dtype=str))],
        empty="No alert was raised in this period."))


def _models(wh: Warehouse) -> Section:
    history = R.promotion_history(wh)
    shown = history.drop(columns=["id"]).rename(columns={
        "challenger_version": "challenger", "champion_version": "champion before"})
    return Section("models", "Champion and challenger history", table(
        shown, empty="No promotion decision on record yet (the first model became champion "
        "as there was none)."))


def _data_quality(wh: Warehouse, period: Period) -> Section:
    batches = R.validation_between(wh, period.start, period.end)
    rules = R.quarantine_by_rule(wh, period.start, period.end)
    return Section("data-quality", "Data quality", "<h3>Batches through the gate</h3>" + table(
        batches, empty="No batch was loaded for this period.") + "<h3>Rows quarantined by "
        "rule</h3>" + table(rules, empty="No row was quarantined."))
