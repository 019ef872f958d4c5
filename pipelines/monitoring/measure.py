"""The day's measurements against the champion's training reference, each step adding its
``monitoring_metrics`` rows and returning its findings:

1. drift: our CSI per feature and score PSI on every row, Evidently's drift report on a sample;
2. performance: the estimate from PDs (no labels), realised AUC/KS/bad rate of matured vintages,
   early delinquency overall and per dealer;
3. portfolio: roll rates month over month and vintage curves, from the tape months needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models.holdout import holdout_flags
from pipelines.core.settings import Settings
from pipelines.monitoring import drift as D
from pipelines.monitoring import performance as P
from pipelines.monitoring import portfolio as R
from pipelines.monitoring.auxiliary import record_epd, record_roll_forward
from pipelines.monitoring.context import (
    ALERT,
    OK,
    DayContext,
    DriftFindings,
    MetricRows,
    PerformanceFindings,
    PortfolioFindings,
)
from pipelines.monitoring.early import measure_early_target
from pipelines.monitoring.loss import record_loss_forecast
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_config
from pipelines.warehouse.monitoring import metric_recorded

log = logging.getLogger(__name__)


def build_window_features(settings: Settings, wh: Warehouse, apps: pd.DataFrame,
                          business_date: date, names: Sequence[str],
                          reference: pd.DataFrame) -> pd.DataFrame:
    """The champion's features for the window, with ``features.build_features`` exactly as
    scoring builds them. Extra (bring-your-own) features take their kind and categories from
    the reference; dealer history is loaded only if the champion uses it."""
    from features import FEATURES, build_features, feature_specs
    from features.build import DEALER_FEATURES, HISTORY_COLUMNS
    from pipelines.warehouse.history import business_day_end, feature_history

    known = {s.name for s in FEATURES}
    extra = [f for f in names if f not in known]
    extra_cat = {f: [str(c) for c in reference[f].dtype.categories] for f in extra
                 if isinstance(reference[f].dtype, pd.CategoricalDtype)}
    specs = feature_specs([f for f in extra if f not in extra_cat], extra_cat,
                          allowed_policy_outputs=names)
    by_name = {s.name: s for s in specs}
    specs = [by_name[f] for f in names]
    if any(f in DEALER_FEATURES for f in names):
        history = feature_history(wh, business_date, feature_config(settings))
    else:
        history = pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS})
    X = build_features(apps, history, business_day_end(business_date),
                       feature_config(settings), specs)
    return X[list(names)]


# ---------------------------------------------------------------------------------------------
# drift


def measure_drift(ctx: DayContext, rows: MetricRows, wh: Warehouse, apps: pd.DataFrame,
                  scores: pd.DataFrame, reference: pd.DataFrame) -> DriftFindings:
    cfg = ctx.cfg
    n_apps, n_scored = len(apps), len(scores)
    ok = n_apps >= cfg.min_window_rows
    rows.add("n_applications", n_apps)
    rows.add("n_scored", n_scored)
    score_psi = score_means = None
    if not scores.empty:
        score_psi, score_means = _score_drift(ctx, rows, scores, reference)
    if apps.empty:
        return DriftFindings(ok, None, score_psi, score_means)
    X = build_window_features(ctx.settings, wh, apps, ctx.business_date,
                              ctx.champion.feature_names, reference)
    csi = _feature_drift(ctx, rows, X, reference, n_apps)
    _out_of_range(ctx, rows, X, reference)
    monitored = [f for f in ctx.champion.feature_names if f not in set(cfg.trend_features)]
    evidently = None
    if _evidently_due(ctx, csi, score_psi, monitored, wh):
        evidently = _evidently(ctx, rows, X, reference, monitored, n_apps)
    else:
        log.info("%s: Evidently report not run (screen below the %s band, or a report in the "
                 "last %d days)", ctx.business_date, cfg.evidently_when, cfg.evidently_every_days)
    return DriftFindings(ok, csi, score_psi, score_means, evidently, X)


def _reference_scores(settings: Settings, reference: pd.DataFrame) -> np.ndarray:
    if "score" in reference.columns:
        return reference["score"].to_numpy(dtype=float)
    from models.scaling import pd_to_score

    s = settings.scoring
    return pd_to_score(reference["pd"].to_numpy(dtype=float), s.base_score, s.base_odds, s.pdo)


def _score_drift(ctx: DayContext, rows: MetricRows, scores: pd.DataFrame,
                 reference: pd.DataFrame) -> tuple[tuple[float, str], tuple[float, float]]:
    cfg = ctx.cfg
    ref_scores = _reference_scores(ctx.settings, reference)
    # Binned on the PD, of which the score is an exact monotone function (same bins, same PSI):
    # stored points are rounded, and isotonic PDs tie in blocks, so a rounded tie block sitting
    # on a reference edge would jump a whole bin and fake a shift.
    value, band = D.score_psi(reference["pd"].to_numpy(dtype=float),
                              scores["pd"].to_numpy(dtype=float), cfg.psi_bins,
                              cfg.psi_epsilon, cfg.psi_bands)
    means = (float(scores["score"].mean()), float(np.mean(ref_scores)))
    note = ctx.note(len(scores))
    rows.add("score_psi", value, band=None if note else band,
             details={"mean_score": means[0], "reference_mean_score": means[1], **note})
    for decision, share in scores["decision"].value_counts(normalize=True).items():
        rows.add(f"decision_rate.{decision}", float(share))
    held = holdout_flags(scores["holdout"]) if "holdout" in scores else None
    if held is not None and held.any():  # the policy holdout (models.holdout)
        rows.add("holdout_approved", float(held.sum()),
                 details={"share_of_scored": float(held.mean()),
                          "configured_share": ctx.settings.scoring.holdout_share})
    return (value, band), means


def _feature_drift(ctx: DayContext, rows: MetricRows, X: pd.DataFrame,
                   reference: pd.DataFrame, n_apps: int) -> pd.DataFrame:
    cfg = ctx.cfg
    csi = D.csi_table(reference, X, ctx.champion.feature_names, cfg.psi_bins,
                      cfg.psi_epsilon, cfg.psi_bands, cfg.trend_features)
    note = ctx.note(n_apps)
    for r in csi.itertuples():
        rows.add(f"csi.{r.feature}", r.value, band=None if note else r.band,
                 details={"kind": r.kind, "trend": bool(r.trend), "ref_missing": r.ref_missing,
                          "cur_missing": r.cur_missing, **note})
    return csi


def _out_of_range(ctx: DayContext, rows: MetricRows, X: pd.DataFrame,
                  reference: pd.DataFrame) -> None:
    """Share of the window's values outside the champion's training range, per feature: a
    tree scores every value beyond it like the edge, so a feature that keeps leaving its range
    is drifting by construction ("watch" above ``max_out_of_range_share``)."""
    from models.ranges import out_of_range

    limit = ctx.cfg.max_out_of_range_share
    for r in out_of_range(reference, X, ctx.champion.feature_names).itertuples():
        rows.add(f"out_of_range.{r.feature}", r.share_out,
                 band="watch" if r.share_out > limit else OK,
                 details={"train_min": r.train_min, "train_max": r.train_max,
                          "share_below": r.share_below, "share_above": r.share_above})


def _evidently(ctx: DayContext, rows: MetricRows, X: pd.DataFrame, reference: pd.DataFrame,
               monitored: list[str], n_apps: int) -> D.EvidentlyResult:
    cfg = ctx.cfg
    html = ctx.settings.reports_dir / "drift" / f"{ctx.business_date.isoformat()}.html"
    ev = D.evidently_drift(reference, X, monitored, cfg.evidently_sample_rows,
                           cfg.drift_share_threshold, cfg.evidently_method,
                           ctx.settings.seed, html)
    note = ctx.note(n_apps)
    for r in ev.table.itertuples():
        rows.add(f"evidently.{r.feature}", r.score,
                 band=None if note else (ALERT if r.drifted else OK),
                 details={"method": r.method, "threshold": r.threshold})
    band = ALERT if ev.drifted_share > cfg.drift_share_threshold else OK
    rows.add("drifted_share", ev.drifted_share, band=None if note else band,
             details={"drifted": ev.table.loc[ev.table["drifted"], "feature"].tolist(),
                      "count": ev.drifted_count, "features": len(monitored),
                      "sample_rows": list(ev.sample_rows), **note})
    return ev


def _evidently_due(ctx: DayContext, csi: pd.DataFrame, score_psi: tuple[float, str] | None,
                   monitored: list[str], wh: Warehouse) -> bool:
    """``evidently_when``: always, or when the score PSI or a monitored feature's CSI reached
    the watch (or shift) band in our screen over every row of the window — then at most once
    per ``evidently_every_days`` (a report costs seconds; a drift episode lasts weeks)."""
    when = ctx.cfg.evidently_when
    if when == "always":
        return True
    levels = ("watch", "shift") if when == "watch" else ("shift",)
    bands = set(csi.loc[csi["feature"].isin(monitored), "band"])
    if score_psi is not None:
        bands.add(score_psi[1])
    if not bands & set(levels):
        return False
    since = ctx.business_date - timedelta(days=ctx.cfg.evidently_every_days - 1)
    return not metric_recorded(wh, "drifted_share", since, ctx.business_date)


# ---------------------------------------------------------------------------------------------
# performance


def measure_performance(ctx: DayContext, rows: MetricRows, wh: Warehouse,
                        scores: pd.DataFrame, reference: pd.DataFrame) -> PerformanceFindings:
    cfg, champ = ctx.cfg, ctx.champion
    estimate: dict[str, float] = {}
    if not scores.empty:
        estimate = P.estimated_performance(scores["pd"].to_numpy(dtype=float))
        ref_est = P.estimated_performance(reference["pd"].to_numpy(dtype=float))
        # Like for like: the estimate over every scored application (declines included) is
        # judged against the same estimate on the reference population, not against the OOT
        # AUC of booked, matured loans (another population, another number).
        estimate["reference_expected_auc"] = ref_est["expected_auc"]
        floor = ref_est["expected_auc"] - cfg.auc_margin
        est_auc = estimate["expected_auc"]
        note = ctx.note(len(scores))
        band = None if note else (ALERT if est_auc < floor else OK)
        rows.add("estimated_auc", est_auc, band=band,
                 details={"oot_auc": champ.oot_auc, "margin": cfg.auc_margin,
                          "se": estimate["expected_auc_se"],
                          "reference_estimated_auc": ref_est["expected_auc"], **note})
        rows.add("estimated_bad_rate", estimate["expected_bad_rate"],
                 details={"reference_estimated_bad_rate": ref_est["expected_bad_rate"]})
        rows.add("estimated_ks", estimate["expected_ks"])
    realised = _realised(ctx, rows, wh)
    early, months = _early_delinquency(ctx, rows, wh)
    target = measure_early_target(ctx, rows, wh)
    return PerformanceFindings(estimate, realised, early, months, target)


def _realised(ctx: DayContext, rows: MetricRows, wh: Warehouse) -> pd.DataFrame | None:
    cfg, champ = ctx.cfg, ctx.champion
    months = ctx.settings.features.performance_window_months
    vintages = P.mature_vintages(ctx.business_date, months, cfg.realised_vintages)
    frame = P.load_realised(wh, ctx.business_date, feature_config(ctx.settings), vintages)
    if frame.empty:
        return None
    table = P.realised_by_vintage(frame)
    _auto_approved(rows, frame)
    floor = None if champ.oot_auc is None else champ.oot_auc - cfg.auc_margin
    enough = table["bads"] >= cfg.realised_min_bads  # an AUC on a handful of bads is noise
    table["auc_alert"] = [floor is not None and v == champ.version and ok and auc < floor
                          for v, ok, auc in zip(table["model_version"], enough, table["auc"],
                                                strict=True)]
    table["bad_rate_alert"] = ((table["ratio"] >= cfg.bad_rate_factor)
                               & (table["p_value"] < cfg.bad_rate_alpha))
    for r in table.itertuples():
        segment = f"vintage={r.vintage}"
        if (table["vintage"] == r.vintage).sum() > 1:
            segment += f",model_version={r.model_version}"
        period = pd.Period(r.vintage, "M")
        window = (period.start_time.date(), period.end_time.date())
        info = {"model_version": r.model_version, "n": r.n, "bads": r.bads}
        verdict = r.bads >= cfg.realised_min_bads
        rows.add("realised_auc", r.auc, segment,
                 (ALERT if r.auc_alert else OK) if verdict else None, info, window)
        rows.add("realised_ks", r.ks, segment, None, info, window)
        rows.add("realised_bad_rate", r.bad_rate, segment,
                 ALERT if r.bad_rate_alert else OK,
                 {**info, "mean_pd": r.mean_pd, "ratio": r.ratio, "p_value": r.p_value}, window)
        rows.add("predicted_bad_rate", r.mean_pd, segment, None, info, window)
    return table


def _auto_approved(rows: MetricRows, frame: pd.DataFrame) -> None:
    """Bad rate of the loans the champion approved automatically, per matured vintage and
    pooled: the lender's question of whether automation keeps its losses low. The policy
    holdout's approvals (below the cut-off) are not the policy's: their bad rate is its own
    row, ``holdout_bad_rate``."""
    held = holdout_flags(frame["holdout"]) if "holdout" in frame else \
        pd.Series(False, index=frame.index)
    if held.any():
        rows.add("holdout_bad_rate", float(frame.loc[held, "bad"].mean()),
                 details={"n": int(held.sum()), "label": "main"})
    approved = frame[(frame["decision"] == "approve") & ~held]
    if approved.empty:
        return
    per = approved.groupby("vintage")["bad"].agg(["mean", "size"])
    for vintage, r in per.iterrows():
        period = pd.Period(str(vintage), "M")
        rows.add("auto_approved_bad_rate", float(r["mean"]), f"vintage={vintage}",
                 details={"n": int(r["size"])},
                 window=(period.start_time.date(), period.end_time.date()))
    rows.add("auto_approved_bad_rate", float(approved["bad"].mean()),
             details={"n": len(approved), "vintages": [str(v) for v in per.index]})


def _early_delinquency(ctx: DayContext, rows: MetricRows, wh: Warehouse
                       ) -> tuple[pd.DataFrame, tuple[list[pd.Timestamp], list[pd.Timestamp]]]:
    cfg = ctx.cfg
    recent, baseline = P.ed_months(ctx.business_date, cfg.early_delinquency_recent_months,
                                   cfg.early_delinquency_baseline_months)
    counts = P.load_early_delinquency_counts(wh, baseline[0].date(), recent[-1].date(),
                                             cfg.early_delinquency_mob,
                                             cfg.early_delinquency_bucket)
    ed = P.flag_early_delinquency(P.early_delinquency(counts, recent, baseline),
                                  cfg.early_delinquency_factor, cfg.early_delinquency_alpha,
                                  cfg.dealer_factor, cfg.dealer_alpha, cfg.dealer_min_events)
    window = (recent[0].date(), recent[-1].date())
    keep = (ed["segment"] == "all") | ed["alert"] | (ed["observed"] >= cfg.dealer_min_events)
    for r in ed[keep].itertuples():
        rows.add("early_delinquency", r.ratio, r.segment, ALERT if r.alert else OK,
                 {"observed": r.observed, "expected": r.expected, "at_risk": r.at_risk,
                  "p_value": r.p_value, "recent_rate": r.recent_rate,
                  "baseline_rate": r.baseline_rate,
                  "baseline_months": [m.date() for m in baseline]}, window)
    return ed, (recent, baseline)


# ---------------------------------------------------------------------------------------------
# portfolio


def measure_portfolio(ctx: DayContext, rows: MetricRows, wh: Warehouse) -> PortfolioFindings:
    cfg = ctx.cfg
    rolls = matrix = None
    counts = R.load_transition_counts(wh, ctx.business_date, cfg.roll_rate_baseline_months + 1,
                                      R.transition_span(cfg))
    if not counts.empty:
        rolls = R.roll_rate_alerts(R.forward_rolls(counts), cfg.roll_rate_factor,
                                   cfg.roll_rate_baseline_months, cfg.roll_rate_alpha,
                                   cfg.roll_rate_min_loans)
        matrix = R.roll_rate_matrix(counts)
        for r in rolls.itertuples():
            window = (r.as_of_month.date(), r.next_month.date())
            rows.add(f"forward_roll.{r.bucket}", r.rate, "all", ALERT if r.alert else OK,
                     {"baseline": r.baseline, "ratio": r.ratio, "p_value": r.p_value,
                      "loans": r.loans, "rolled": r.rolled,
                      "baseline_months": r.baseline_months}, window)
        latest = counts["as_of_month"].max()
        rows.add("roll_matrix", float(counts.loc[counts["as_of_month"] == latest, "loans"].sum()),
                 details={"month": latest.date(), "matrix": json.loads(
                     matrix.round(6).to_json(orient="index"))},
                 window=(latest.date(), (latest + pd.offsets.MonthEnd(1)).date()))
    record_loss_forecast(ctx.settings, wh, ctx.business_date, rows)  # migration-rate losses
    # the auxiliary families: collections roll-forward against the next tape, EPD drift/outcome
    record_roll_forward(ctx.settings, wh, ctx.business_date, rows)
    record_epd(ctx.settings, wh, ctx.window_start, ctx.business_date, rows)
    curves = R.vintage_curves(R.load_vintage_counts(wh, ctx.business_date, cfg.vintage_months),
                              ctx.business_date, ctx.settings.features.performance_window_months)
    for vintage, row in curves.iterrows():
        seen = row.dropna()
        if len(seen):
            period = pd.Period(vintage, "M")
            rows.add("vintage_bad_rate", float(seen.iloc[-1]), f"vintage={vintage}",
                     details={"months_on_book": int(seen.index[-1]),
                              "curve": [round(float(v), 6) for v in seen]},
                     window=(period.start_time.date(), period.end_time.date()))
    return PortfolioFindings(rolls, matrix, curves)
