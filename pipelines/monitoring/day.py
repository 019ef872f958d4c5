"""Stage: monitor one business date (Prefect-free; the ``daily-monitoring`` flow calls it).

``monitor_day`` pools the trailing ``monitoring.window_days`` of applications and champion scores
and, against the champion's training reference:
1. drift: our CSI per feature and score PSI on every row, Evidently's drift report on a sample;
2. performance: the estimate from PDs (no labels), realised AUC/KS/bad rate of matured vintages,
   early delinquency overall and per dealer;
3. portfolio: roll rates month over month and vintage curves, from the tape months needed;
then writes every number to ``monitoring_metrics`` (replacing the day's rows: idempotent), draws
the plots, raises alerts through ``pipelines.monitoring.alerts.send_alert``, decides on retraining
(``pipelines.monitoring.policy``) and logs the report, plots and metrics to the MLflow
experiment ``monitoring`` (one run per business date, reused on rerun).

Reports carry features, aggregates and dealer ids only, never an applicant identifier.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Date, bindparam, text

from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.monitoring import drift as D
from pipelines.monitoring import performance as P
from pipelines.monitoring import plots
from pipelines.monitoring import portfolio as R
from pipelines.monitoring.alerts import AlertOutcome, send_alert
from pipelines.monitoring.policy import PolicyInputs, RetrainDecision, decide_retrain
from pipelines.warehouse.engine import Warehouse

log = logging.getLogger(__name__)
ALERT, OK = "alert", "ok"


class MonitoringError(CreditflowError):
    """Monitoring cannot run as asked (champion description or reference unusable)."""


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    oot_auc: float | None
    feature_names: list[str]


@dataclass
class MonitorResult:
    business_date: date
    window_start: date
    window_end: date
    n_applications: int
    n_scored: int
    metrics: pd.DataFrame  # the rows written to monitoring_metrics
    alerts: list[AlertOutcome]
    decision: RetrainDecision
    report_paths: dict[str, Path] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def alert_keys(self) -> list[str]:
        return [a.condition_key for a in self.alerts]


@dataclass
class _Day:
    """Everything computed for one date, passed between the steps below."""

    settings: Settings
    business_date: date
    window_start: date
    champion: Champion
    report_dir: Path
    plots: bool = True
    rows: list[dict[str, Any]] = field(default_factory=list)
    n_applications: int = 0
    n_scored: int = 0
    drift_ok: bool = False  # enough rows for drift verdicts
    csi: pd.DataFrame | None = None
    score_psi: tuple[float, str] | None = None
    score_means: tuple[float, float] | None = None
    evidently: D.EvidentlyResult | None = None
    estimate: dict[str, float] = field(default_factory=dict)
    realised: pd.DataFrame | None = None
    early: pd.DataFrame | None = None
    early_months: tuple[list[pd.Timestamp], list[pd.Timestamp]] | None = None
    rolls: pd.DataFrame | None = None
    roll_matrix: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    experiment_id: str = ""

    def add(self, metric: str, value: float | None, segment: str = "all",
            band: str | None = None, details: dict | None = None,
            window: tuple[date, date] | None = None) -> None:
        start, end = window or (self.window_start, self.business_date)
        finite = value is not None and np.isfinite(value)
        self.rows.append({"business_date": self.business_date, "metric": metric,
                          "segment": segment, "value": float(value) if finite else None,
                          "band": band, "window_start": start, "window_end": end,
                          "details": json.dumps(details, default=_json_default)
                          if details else None})

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.timings[step] = round(time.perf_counter() - t0, 3)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (date, pd.Timestamp)):
        return value.isoformat()
    return str(value)


def monitor_day(settings: Settings, wh: Warehouse, business_date: date,
                reference: pd.DataFrame, champion: dict, plots: bool = True) -> MonitorResult:
    """Monitor ``business_date``; ``champion`` = {"name", "version", "oot_auc",
    "feature_names"}, ``reference`` = the champion's training-window sample (features, ``pd``
    and optionally ``score``), e.g. from ``models.registry.load_reference``. ``plots=False``
    skips drawing the day's figures (0.2-0.6 s a day; the demo draws them weekly); metrics,
    alerts, the retrain decision and an Evidently report when one is due are the same."""
    champ = _champion(champion, reference)
    cfg = settings.monitoring
    day = _Day(settings, business_date, business_date - timedelta(days=cfg.window_days - 1),
               champ, settings.reports_dir / "monitoring" / business_date.isoformat(), plots)
    # Needed last, checked first: an unusable reports folder or tracking store fails the day
    # before anything is written (no metrics, alerts or retrain trigger without a manifest).
    from models.registry import ensure_experiment

    day.report_dir.mkdir(parents=True, exist_ok=True)
    day.experiment_id = ensure_experiment(settings.tracking_uri, cfg.experiment_name,
                                          settings.artifact_root)
    with day.timed("load"):
        apps, scores = _window(wh, day)
    with day.timed("drift"):
        _drift(day, wh, apps, scores, reference)
    with day.timed("performance"):
        _performance(day, wh, scores, reference)
    with day.timed("portfolio"):
        _portfolio(day, wh)
    metrics = pd.DataFrame(day.rows)
    with day.timed("write"):
        write_metrics(wh, business_date, metrics)
    with day.timed("plots"):
        paths = _plots(day, wh)
    with day.timed("alerts"):
        alerts = _alerts(day, wh, paths)
        decision = decide_retrain(settings, wh, business_date, _policy_inputs(day),
                                  champ.version)
        if decision.fire:
            alerts.append(send_alert(settings, wh, "retrain_trigger", business_date,
                                     _retrain_message(day, decision), "info"))
    with day.timed("mlflow"):
        run_id = _log_mlflow(day, metrics, paths, decision)
    result = MonitorResult(business_date, day.window_start, business_date, day.n_applications,
                           day.n_scored, metrics, alerts, decision, paths, run_id, day.timings)
    _manifest(wh, result, champ)
    log.info("monitored %s: %d applications, %d metrics, %d alert(s), retrain=%s (%s)",
             business_date, day.n_applications, len(metrics), len(alerts), decision.fire,
             ", ".join(f"{k} {v:.2f}s" for k, v in day.timings.items()))
    return result


def summary_markdown(result: MonitorResult) -> str:
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
    lines.append("")
    alerts = "; ".join(f"{a.condition_key} ({_alert_state(a)})" for a in result.alerts)
    lines.append(f"**Alerts:** {alerts or 'none'}")
    d = result.decision
    lines.append(f"**Retraining:** {d.status}" + (f": {'; '.join(d.reasons)}" if d.reasons
                                                  else ""))
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


_SUMMARY_ROWS = [
    ("score_psi", "score PSI", ".3f"), ("drifted_share", "drifted feature share (Evidently)",
                                        ".0%"),
    ("estimated_auc", "estimated AUC (from PDs)", ".3f"),
    ("estimated_bad_rate", "estimated bad rate", ".2%"),
    ("decision_rate.approve", "approval rate", ".1%"),
    ("early_delinquency", "early delinquency, observed/expected", ".2f"),
    ("forward_roll.current", "roll current -> 1-30", ".2%"),
    ("forward_roll.1-30", "roll 1-30 -> 31-60", ".1%"),
    ("forward_roll.31-60", "roll 31-60 -> 61-90", ".1%"),
]


# ---------------------------------------------------------------------------------------------
# inputs


def _champion(champion: dict, reference: pd.DataFrame) -> Champion:
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
    return Champion(str(champion["name"]), str(champion["version"]),
                    None if oot is None else float(oot), names)


def _window(wh: Warehouse, day: _Day) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Applications (features built with the shared builder) and this champion's scores."""
    from pipelines.monitoring.window import window_applications

    apps = window_applications(wh, day.window_start, day.business_date)
    stmt = text("SELECT application_id, pd, score, decision FROM scores WHERE role = 'champion' "
                "AND model_version = :v AND business_date >= :s AND business_date <= :e"
                ).bindparams(bindparam("s", type_=Date), bindparam("e", type_=Date))
    with wh.engine.connect() as conn:
        scores = pd.read_sql_query(stmt, conn, params={"v": day.champion.version,
                                                       "s": day.window_start,
                                                       "e": day.business_date})
    day.n_applications, day.n_scored = len(apps), len(scores)
    return apps, scores


def build_window_features(settings: Settings, wh: Warehouse, apps: pd.DataFrame,
                          business_date: date, names: Sequence[str],
                          reference: pd.DataFrame) -> pd.DataFrame:
    """The champion's features for the window, with ``features.build_features`` exactly as
    scoring builds them. Extra (bring-your-own) features take their kind and categories from
    the reference; dealer history is loaded only if the champion uses it."""
    from features import build_features, feature_specs
    from features.build import DEALER_FEATURES, HISTORY_COLUMNS
    from pipelines.warehouse.history import business_day_end, feature_config, feature_history

    known = {s.name for s in feature_specs()}
    extra = [f for f in names if f not in known]
    extra_cat = {f: [str(c) for c in reference[f].dtype.categories] for f in extra
                 if isinstance(reference[f].dtype, pd.CategoricalDtype)}
    specs = feature_specs([f for f in extra if f not in extra_cat], extra_cat)
    by_name = {s.name: s for s in specs}
    specs = [by_name[f] for f in names]
    if any(f in DEALER_FEATURES for f in names):
        history = feature_history(wh, business_date,
                                  settings.features.performance_window_months)
    else:
        history = pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS})
    X = build_features(apps, history, business_day_end(business_date),
                       feature_config(settings), specs)
    return X[list(names)]


# ---------------------------------------------------------------------------------------------
# drift


def _reference_scores(settings: Settings, reference: pd.DataFrame) -> np.ndarray:
    if "score" in reference.columns:
        return reference["score"].to_numpy(dtype=float)
    from models.scaling import pd_to_score

    s = settings.scoring
    return pd_to_score(reference["pd"].to_numpy(dtype=float), s.base_score, s.base_odds, s.pdo)


def _drift(day: _Day, wh: Warehouse, apps: pd.DataFrame, scores: pd.DataFrame,
           reference: pd.DataFrame) -> None:
    cfg = day.settings.monitoring
    day.drift_ok = day.n_applications >= cfg.min_window_rows
    day.add("n_applications", day.n_applications)
    day.add("n_scored", day.n_scored)
    if not scores.empty:
        _score_drift(day, scores, reference)
    if apps.empty:
        return
    X = build_window_features(day.settings, wh, apps, day.business_date,
                              day.champion.feature_names, reference)
    _feature_drift(day, X, reference)
    monitored = [f for f in day.champion.feature_names if f not in set(cfg.trend_features)]
    if _evidently_due(day, monitored, wh):
        _evidently(day, X, reference, monitored)
    else:
        log.info("%s: Evidently report not run (screen below the %s band, or a report in the "
                 "last %d days)", day.business_date, cfg.evidently_when, cfg.evidently_every_days)


def _note(day: _Day, n: int) -> dict[str, str]:
    """Details of a metric whose window is too small for a verdict (band left empty)."""
    floor = day.settings.monitoring.min_window_rows
    return {} if n >= floor else {"note": f"only {n} rows in the window (< {floor}): no verdict"}


def _score_drift(day: _Day, scores: pd.DataFrame, reference: pd.DataFrame) -> None:
    cfg = day.settings.monitoring
    ref_scores = _reference_scores(day.settings, reference)
    # Binned on the PD, of which the score is an exact monotone function (same bins, same PSI):
    # stored points are rounded, and isotonic PDs tie in blocks, so a rounded tie block sitting
    # on a reference edge would jump a whole bin and fake a shift.
    value, band = D.score_psi(reference["pd"].to_numpy(dtype=float),
                              scores["pd"].to_numpy(dtype=float), cfg.psi_bins,
                              cfg.psi_epsilon, cfg.psi_bands)
    day.score_psi = (value, band)
    day.score_means = (float(scores["score"].mean()), float(np.mean(ref_scores)))
    note = _note(day, day.n_scored)
    day.add("score_psi", value, band=None if note else band,
            details={"mean_score": day.score_means[0],
                     "reference_mean_score": day.score_means[1], **note})
    for decision, share in scores["decision"].value_counts(normalize=True).items():
        day.add(f"decision_rate.{decision}", float(share))


def _feature_drift(day: _Day, X: pd.DataFrame, reference: pd.DataFrame) -> None:
    cfg = day.settings.monitoring
    day.csi = D.csi_table(reference, X, day.champion.feature_names, cfg.psi_bins,
                          cfg.psi_epsilon, cfg.psi_bands, cfg.trend_features)
    note = _note(day, day.n_applications)
    for r in day.csi.itertuples():
        day.add(f"csi.{r.feature}", r.value, band=None if note else r.band,
                details={"kind": r.kind, "trend": bool(r.trend), "ref_missing": r.ref_missing,
                         "cur_missing": r.cur_missing, **note})


def _evidently(day: _Day, X: pd.DataFrame, reference: pd.DataFrame,
               monitored: list[str]) -> None:
    cfg = day.settings.monitoring
    html = day.settings.reports_dir / "drift" / f"{day.business_date.isoformat()}.html"
    ev = day.evidently = D.evidently_drift(reference, X, monitored, cfg.evidently_sample_rows,
                                           cfg.drift_share_threshold, cfg.evidently_method,
                                           day.settings.seed, html)
    note = _note(day, day.n_applications)
    for r in ev.table.itertuples():
        day.add(f"evidently.{r.feature}", r.score,
                band=None if note else (ALERT if r.drifted else OK),
                details={"method": r.method, "threshold": r.threshold})
    band = ALERT if ev.drifted_share > cfg.drift_share_threshold else OK
    day.add("drifted_share", ev.drifted_share, band=None if note else band,
            details={"drifted": ev.table.loc[ev.table["drifted"], "feature"].tolist(),
                     "count": ev.drifted_count, "features": len(monitored),
                     "sample_rows": list(ev.sample_rows), **note})


def _evidently_due(day: _Day, monitored: list[str], wh: Warehouse | None = None) -> bool:
    """``evidently_when``: always, or when the score PSI or a monitored feature's CSI reached
    the watch (or shift) band in our screen over every row of the window — then at most once
    per ``evidently_every_days`` (a report costs seconds; a drift episode lasts weeks)."""
    when = day.settings.monitoring.evidently_when
    if when == "always":
        return True
    levels = ("watch", "shift") if when == "watch" else ("shift",)
    bands = set() if day.csi is None else set(
        day.csi.loc[day.csi["feature"].isin(monitored), "band"])
    if day.score_psi is not None:
        bands.add(day.score_psi[1])
    if not bands & set(levels):
        return False
    return wh is None or not _recent_report(wh, day)


def _recent_report(wh: Warehouse, day: _Day) -> bool:
    every = day.settings.monitoring.evidently_every_days
    since = day.business_date - timedelta(days=every - 1)
    return wh.count("monitoring_metrics", "metric = 'drifted_share' AND business_date >= :a "
                    "AND business_date < :b", {"a": since, "b": day.business_date}) > 0


# ---------------------------------------------------------------------------------------------
# performance


def _performance(day: _Day, wh: Warehouse, scores: pd.DataFrame,
                 reference: pd.DataFrame) -> None:
    cfg, champ = day.settings.monitoring, day.champion
    if not scores.empty:
        day.estimate = P.estimated_performance(scores["pd"].to_numpy(dtype=float))
        ref_est = P.estimated_performance(reference["pd"].to_numpy(dtype=float))
        floor = None if champ.oot_auc is None else champ.oot_auc - cfg.auc_margin
        est_auc = day.estimate["expected_auc"]
        note = _note(day, day.n_scored)
        band = None if floor is None or note else (ALERT if est_auc < floor else OK)
        day.add("estimated_auc", est_auc, band=band,
                details={"oot_auc": champ.oot_auc, "margin": cfg.auc_margin,
                         "se": day.estimate["expected_auc_se"],
                         "reference_estimated_auc": ref_est["expected_auc"], **note})
        day.add("estimated_bad_rate", day.estimate["expected_bad_rate"],
                details={"reference_estimated_bad_rate": ref_est["expected_bad_rate"]})
        day.add("estimated_ks", day.estimate["expected_ks"])
    _realised(day, wh)
    _early_delinquency(day, wh)


def _realised(day: _Day, wh: Warehouse) -> None:
    cfg = day.settings.monitoring
    months = day.settings.features.performance_window_months
    vintages = P.mature_vintages(day.business_date, months, cfg.realised_vintages)
    frame = P.load_realised(wh, day.business_date, months, vintages)
    if frame.empty:
        return
    table = P.realised_by_vintage(frame)
    floor = (None if day.champion.oot_auc is None
             else day.champion.oot_auc - cfg.auc_margin)
    enough = table["bads"] >= cfg.realised_min_bads  # an AUC on a handful of bads is noise
    table["auc_alert"] = [floor is not None and v == day.champion.version and ok and auc < floor
                          for v, ok, auc in zip(table["model_version"], enough, table["auc"],
                                                strict=True)]
    table["bad_rate_alert"] = ((table["ratio"] >= cfg.bad_rate_factor)
                               & (table["p_value"] < cfg.bad_rate_alpha))
    day.realised = table
    for r in table.itertuples():
        segment = f"vintage={r.vintage}"
        if (table["vintage"] == r.vintage).sum() > 1:
            segment += f",model_version={r.model_version}"
        period = pd.Period(r.vintage, "M")
        window = (period.start_time.date(), period.end_time.date())
        info = {"model_version": r.model_version, "n": r.n, "bads": r.bads}
        verdict = r.bads >= cfg.realised_min_bads
        day.add("realised_auc", r.auc, segment,
                (ALERT if r.auc_alert else OK) if verdict else None, info, window)
        day.add("realised_ks", r.ks, segment, None, info, window)
        day.add("realised_bad_rate", r.bad_rate, segment,
                ALERT if r.bad_rate_alert else OK,
                {**info, "mean_pd": r.mean_pd, "ratio": r.ratio, "p_value": r.p_value}, window)
        day.add("predicted_bad_rate", r.mean_pd, segment, None, info, window)


def _early_delinquency(day: _Day, wh: Warehouse) -> None:
    cfg = day.settings.monitoring
    recent, baseline = P.ed_months(day.business_date, cfg.early_delinquency_recent_months,
                                   cfg.early_delinquency_baseline_months)
    counts = P.load_early_delinquency_counts(wh, baseline[0].date(), recent[-1].date(),
                                             cfg.early_delinquency_mob,
                                             cfg.early_delinquency_bucket)
    ed = P.flag_early_delinquency(P.early_delinquency(counts, recent, baseline),
                                  cfg.early_delinquency_factor, cfg.early_delinquency_alpha,
                                  cfg.dealer_factor, cfg.dealer_alpha, cfg.dealer_min_events)
    day.early, day.early_months = ed, (recent, baseline)
    window = (recent[0].date(), recent[-1].date())
    keep = (ed["segment"] == "all") | ed["alert"] | (ed["observed"] >= cfg.dealer_min_events)
    for r in ed[keep].itertuples():
        day.add("early_delinquency", r.ratio, r.segment, ALERT if r.alert else OK,
                {"observed": r.observed, "expected": r.expected, "at_risk": r.at_risk,
                 "p_value": r.p_value, "recent_rate": r.recent_rate,
                 "baseline_rate": r.baseline_rate,
                 "baseline_months": [m.date() for m in baseline]}, window)


# ---------------------------------------------------------------------------------------------
# portfolio


def _portfolio(day: _Day, wh: Warehouse) -> None:
    cfg = day.settings.monitoring
    counts = R.load_transition_counts(wh, day.business_date, cfg.roll_rate_baseline_months + 1)
    if not counts.empty:
        day.rolls = R.roll_rate_alerts(R.forward_rolls(counts), cfg.roll_rate_factor,
                                       cfg.roll_rate_baseline_months, cfg.roll_rate_alpha,
                                       cfg.roll_rate_min_loans)
        day.roll_matrix = R.roll_rate_matrix(counts)
        for r in day.rolls.itertuples():
            window = (r.as_of_month.date(), r.next_month.date())
            day.add(f"forward_roll.{r.bucket}", r.rate, "all", ALERT if r.alert else OK,
                    {"baseline": r.baseline, "ratio": r.ratio, "p_value": r.p_value,
                     "loans": r.loans, "rolled": r.rolled,
                     "baseline_months": r.baseline_months}, window)
        latest = counts["as_of_month"].max()
        day.add("roll_matrix", float(counts.loc[counts["as_of_month"] == latest, "loans"].sum()),
                details={"month": latest.date(), "matrix": json.loads(
                    day.roll_matrix.round(6).to_json(orient="index"))},
                window=(latest.date(), (latest + pd.offsets.MonthEnd(1)).date()))
    curves = R.vintage_curves(R.load_vintage_counts(wh, day.business_date, cfg.vintage_months),
                              day.business_date, day.settings.features.performance_window_months)
    day.curves = curves
    for vintage, row in curves.iterrows():
        seen = row.dropna()
        if len(seen):
            period = pd.Period(vintage, "M")
            day.add("vintage_bad_rate", float(seen.iloc[-1]), f"vintage={vintage}",
                    details={"months_on_book": int(seen.index[-1]),
                             "curve": [round(float(v), 6) for v in seen]},
                    window=(period.start_time.date(), period.end_time.date()))


# ---------------------------------------------------------------------------------------------
# warehouse


def write_metrics(wh: Warehouse, business_date: date, metrics: pd.DataFrame) -> int:
    """Replace the day's rows in one transaction: a rerun leaves exactly this run's metrics."""
    stmt = text("DELETE FROM monitoring_metrics WHERE business_date = :d").bindparams(
        bindparam("d", type_=Date))
    with wh.begin() as conn:
        conn.execute(stmt, {"d": business_date})
        return wh.upsert("monitoring_metrics", metrics, conn=conn)


def metric_history(wh: Warehouse, metrics: Sequence[str], segment: str, until: date,
                   days: int = 365) -> pd.DataFrame:
    """Rows of the named metrics (SQL LIKE patterns, e.g. ``csi.%``) for one segment over the
    ``days`` before ``until`` (inclusive)."""
    like = " OR ".join(f"metric LIKE :m{i}" for i in range(len(metrics)))
    stmt = text("SELECT business_date, metric, value, band FROM monitoring_metrics "
                f"WHERE ({like}) AND segment = :s AND business_date <= :u "
                "AND business_date > :lo ORDER BY business_date").bindparams(
        bindparam("u", type_=Date), bindparam("lo", type_=Date))
    params = {f"m{i}": m for i, m in enumerate(metrics)}
    params.update({"s": segment, "u": until, "lo": until - timedelta(days=days)})
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params=params)
    df["business_date"] = pd.to_datetime(df["business_date"], format="mixed")
    return df


def episode_start(wh: Warehouse, metric: str, segment: str, until: date,
                  bands: Sequence[str]) -> date:
    """First date of the current run of monitored dates whose band is in ``bands``."""
    h = metric_history(wh, [metric], segment, until)
    h = h[h["metric"] == metric].sort_values("business_date")
    since = until
    for row in h.iloc[::-1].itertuples():
        if row.band not in bands:
            break
        since = row.business_date.date()
    return since


def _manifest(wh: Warehouse, result: MonitorResult, champ: Champion) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    counts = {"applications": result.n_applications, "scored": result.n_scored,
              "metrics": len(result.metrics),
              "alerts_sent": sum(a.sent for a in result.alerts),
              "alerts_raised": len(result.alerts)}
    details = {"retrain": result.decision.fire, "reasons": result.decision.reasons,
               "alerts": result.alert_keys(), "timings": result.timings,
               "mlflow_run_id": result.mlflow_run_id,
               "reports": {k: str(v) for k, v in result.report_paths.items()}}
    wh.upsert("run_manifest", pd.DataFrame([{
        "run_id": f"monitor-{result.business_date.isoformat()}", "kind": "monitor",
        "business_date": result.business_date, "status": "completed",
        "model_version": champ.version, "counts": json.dumps(counts),
        "details": json.dumps(details, default=str), "started_at": now, "finished_at": now}]))


# ---------------------------------------------------------------------------------------------
# plots, alerts, policy, MLflow


def _plots(day: _Day, wh: Warehouse) -> dict[str, Path]:
    """PSI over time (changes daily), roll-rate heatmap and vintage curves (change when a tape
    month arrives: re-drawn only when their numbers changed, see ``_save_once``)."""
    day.report_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if day.evidently is not None and day.evidently.html_path is not None:
        paths["drift_report"] = day.evidently.html_path
    if not day.plots:
        return paths
    history = metric_history(wh, ["score_psi", "csi.%"], "all", day.business_date)
    path = day.report_dir / "psi_over_time.png"
    plots.psi_over_time(history, day.settings.monitoring.psi_bands).savefig(path, dpi=_DPI)
    paths["psi_over_time"] = path
    if day.roll_matrix is not None and day.rolls is not None and len(day.rolls):
        month = day.rolls["next_month"].iloc[0].date()
        paths["roll_rates"] = _save_once(
            day, "roll_rates", day.roll_matrix,
            lambda: plots.roll_rate_heatmap(day.roll_matrix, f"Roll rates into {month}"))
    if day.curves is not None and len(day.curves):
        paths["vintage_curves"] = _save_once(day, "vintage_curves", day.curves,
                                             lambda: plots.vintage_figure(day.curves))
    return paths


_DPI = 80


def _save_once(day: _Day, name: str, data: pd.DataFrame, draw: Any) -> Path:
    """Draw a figure whose content is a function of ``data`` only once per distinct content
    (cache keyed by a hash of the numbers), then copy it into the day's report folder."""
    digest = hashlib.sha1(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes()
                          + str(list(data.columns)).encode()).hexdigest()[:16]
    cached = day.settings.reports_dir / "monitoring" / "figures" / f"{name}-{digest}.png"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        draw().savefig(cached, dpi=_DPI)
    target = day.report_dir / f"{name}.png"
    shutil.copyfile(cached, target)
    return target


def _since(wh: Warehouse, day: _Day, metric: str, segment: str = "all",
           bands: Sequence[str] = (ALERT,)) -> str:
    return episode_start(wh, metric, segment, day.business_date, bands).isoformat()


def _where(paths: dict[str, Path], key: str, day: _Day) -> str:
    run = f"MLflow experiment '{day.settings.monitoring.experiment_name}', run " \
          f"'monitor-{day.business_date.isoformat()}'"
    path = paths.get(key)
    return f"Report: {path} ({run})." if path else f"Report: {run}."


def _alerts(day: _Day, wh: Warehouse, paths: dict[str, Path]) -> list[AlertOutcome]:
    """One call to send_alert per condition that holds today."""
    raised: list[tuple[str, str, str]] = []  # key, message, severity
    raised += _drift_alerts(day, wh, paths)
    raised += _performance_alerts(day, wh, paths)
    raised += _portfolio_alerts(day, wh, paths)
    return [send_alert(day.settings, wh, key, day.business_date, message, severity)
            for key, message, severity in raised]


def _window_text(day: _Day) -> str:
    return (f"applications {day.window_start.isoformat()}..{day.business_date.isoformat()} "
            f"({day.n_applications} rows) vs the training reference of "
            f"{day.champion.name} v{day.champion.version}")


def _drift_alerts(day: _Day, wh: Warehouse, paths: dict[str, Path]) -> list[tuple[str, str, str]]:
    cfg, out = day.settings.monitoring, []
    if not day.drift_ok:
        return out
    if day.score_psi is not None and day.score_psi[1] == "shift" and day.score_means \
            and day.n_scored >= cfg.min_window_rows:
        value, _ = day.score_psi
        cur, ref = day.score_means
        out.append(("score_psi", (
            f"Score PSI {value:.3f} is in the shift band (> {cfg.psi_bands[1]}) over "
            f"{_window_text(day)}; mean score {cur:.1f} vs {ref:.1f} in the reference "
            f"({cur - ref:+.1f} points). In the shift band since "
            f"{_since(wh, day, 'score_psi', bands=('shift',))}. "
            f"{_where(paths, 'psi_over_time', day)}"), "warning"))
    if day.csi is not None:
        shifted = day.csi[(day.csi["band"] == "shift") & ~day.csi["trend"]]
        if len(shifted):
            listed = ", ".join(f"{r.feature} {r.value:.2f}" for r in shifted.itertuples())
            first = shifted["feature"].iloc[0]
            out.append(("feature_csi_shift", (
                f"{len(shifted)} feature(s) with CSI in the shift band (> {cfg.psi_bands[1]}): "
                f"{listed}; over {_window_text(day)}. {first} in the shift band since "
                f"{_since(wh, day, f'csi.{first}', bands=('shift',))}. "
                f"{_where(paths, 'drift_report', day)}"), "warning"))
    ev = day.evidently
    if ev is not None and ev.drifted_share > cfg.drift_share_threshold:
        drifted = ev.table[ev.table["drifted"]].sort_values("score", ascending=False)
        listed = ", ".join(f"{r.feature} ({r.method} {r.score:.3g})"
                           for r in drifted.head(8).itertuples())
        out.append(("feature_drift", (
            f"Dataset drift: {ev.drifted_count} of {len(ev.table)} features drifted "
            f"({ev.drifted_share:.0%} > {cfg.drift_share_threshold:.0%}) over "
            f"{_window_text(day)}: {listed}. Drifted share above the threshold since "
            f"{_since(wh, day, 'drifted_share')}. {_where(paths, 'drift_report', day)}"),
            "warning"))
    return out


def _performance_alerts(day: _Day, wh: Warehouse,
                        paths: dict[str, Path]) -> list[tuple[str, str, str]]:
    cfg, champ, out = day.settings.monitoring, day.champion, []
    est = day.estimate
    if est and champ.oot_auc is not None and day.n_scored >= cfg.min_window_rows \
            and est["expected_auc"] < champ.oot_auc - cfg.auc_margin:
        out.append(("estimated_auc", (
            f"Estimated AUC {est['expected_auc']:.3f} (from the PDs of {day.n_scored} scored "
            f"applications {day.window_start}..{day.business_date}, no labels yet) is "
            f"{champ.oot_auc - est['expected_auc']:.3f} below the OOT AUC {champ.oot_auc:.3f} "
            f"of {champ.name} v{champ.version} (margin {cfg.auc_margin}). Since "
            f"{_since(wh, day, 'estimated_auc')}. {_where(paths, 'psi_over_time', day)}"),
            "critical"))
    if day.realised is not None:
        for r in day.realised.itertuples():
            if r.auc_alert:
                out.append((f"realised_auc:{r.vintage}", (
                    f"Realised AUC {r.auc:.3f} of vintage {r.vintage} ({r.n} matured loans, "
                    f"{r.bads} bads) is {champ.oot_auc - r.auc:.3f} below the OOT AUC "
                    f"{champ.oot_auc:.3f} of {champ.name} v{r.model_version}. "
                    f"{_where(paths, 'vintage_curves', day)}"), "critical"))
            if r.bad_rate_alert:
                out.append((f"bad_rate:{r.vintage}", (
                    f"Vintage {r.vintage}: realised bad rate {r.bad_rate:.2%} vs mean PD "
                    f"{r.mean_pd:.2%} (x{r.ratio:.2f}, p={r.p_value:.1g}, {r.n} matured loans, "
                    f"model v{r.model_version}). {_where(paths, 'vintage_curves', day)}"),
                    "critical"))
    out += _early_alerts(day, wh, paths)
    return out


def _early_alerts(day: _Day, wh: Warehouse,
                  paths: dict[str, Path]) -> list[tuple[str, str, str]]:
    if day.early is None or day.early.empty or day.early_months is None:
        return []
    cfg, (recent, baseline) = day.settings.monitoring, day.early_months
    what = (f"loans reaching {cfg.early_delinquency_bucket} or worse within "
            f"{cfg.early_delinquency_mob} months on book")
    span = f"month ends {recent[0].date()}..{recent[-1].date()}"
    base = f"{baseline[0].date()}..{baseline[-1].date()}"
    out = []
    for r in day.early[day.early["alert"]].itertuples():
        who = "the portfolio" if r.segment == "all" else r.segment
        out.append((f"early_delinquency:{r.segment}", (
            f"Early delinquency of {who}: {r.observed} {what} in {span} vs {r.expected:.1f} "
            f"expected from the portfolio's rates by month on book in {base} "
            f"(x{r.ratio:.2f}, p={r.p_value:.1g}). Since "
            f"{_since(wh, day, 'early_delinquency', r.segment)}. "
            f"{_where(paths, 'vintage_curves', day)}"),
            "critical" if r.segment == "all" else "warning"))
    return out


def _portfolio_alerts(day: _Day, wh: Warehouse,
                      paths: dict[str, Path]) -> list[tuple[str, str, str]]:
    if day.rolls is None:
        return []
    out = []
    for r in day.rolls[day.rolls["alert"]].itertuples():
        nxt = R.BUCKETS[R.BUCKETS.index(r.bucket) + 1]
        out.append((f"roll_rate:{r.bucket}", (
            f"Forward roll rate from {r.bucket} (to {nxt} or worse) rose to {r.rate:.1%} "
            f"({r.rolled} of {r.loans} loans, {r.as_of_month.date()} -> {r.next_month.date()}) "
            f"vs {r.baseline:.1%} on average over the previous {r.baseline_months} months "
            f"(x{r.ratio:.2f}, p={r.p_value:.1g}). Since "
            f"{_since(wh, day, f'forward_roll.{r.bucket}')}. "
            f"{_where(paths, 'roll_rates', day)}"), "warning"))
    return out


def _policy_inputs(day: _Day) -> PolicyInputs:
    inputs = PolicyInputs(oot_auc=day.champion.oot_auc)
    if day.drift_ok and day.score_psi is not None and day.n_scored >= \
            day.settings.monitoring.min_window_rows:
        inputs.score_psi = day.score_psi[0]
    if day.drift_ok and day.evidently is not None:
        inputs.drifted_share = day.evidently.drifted_share
    if day.estimate and day.n_scored >= day.settings.monitoring.min_window_rows:
        inputs.estimated_auc = day.estimate["expected_auc"]
    if day.realised is not None:
        # only vintages this champion scored say anything about this champion
        mine = day.realised[day.realised["model_version"] == day.champion.version]
        ranked = mine[mine["auc"].notna()
                      & (mine["bads"] >= day.settings.monitoring.realised_min_bads)]
        if len(ranked):
            inputs.realised_auc = float(ranked["auc"].iloc[-1])
            inputs.realised_vintage = str(ranked["vintage"].iloc[-1])
        inputs.bad_rate_alerts = mine.loc[mine["bad_rate_alert"], "vintage"].tolist()
    if day.rolls is not None:
        inputs.roll_rate_alerts = day.rolls.loc[day.rolls["alert"], "bucket"].astype(str).tolist()
    if day.early is not None and not day.early.empty:
        portfolio = day.early[day.early["segment"] == "all"]
        if len(portfolio):
            inputs.early_delinquency_ratio = float(portfolio["ratio"].iloc[0])
            inputs.early_delinquency_alert = bool(portfolio["alert"].iloc[0])
    return inputs


def _retrain_message(day: _Day, decision: RetrainDecision) -> str:
    return (f"Retraining of {day.champion.name} (champion v{day.champion.version}) triggered "
            f"on {day.business_date}: " + "; ".join(decision.reasons)
            + f". Trigger id {decision.run_id}; next trigger possible after "
            f"{day.settings.monitoring.retrain_cooldown_days} days.")


def _mlflow_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """The 'all'-segment numbers (per-dealer and per-vintage rows stay in the warehouse)."""
    rows = metrics[(metrics["segment"] == "all") & metrics["value"].notna()]
    return {str(m): float(v) for m, v in zip(rows["metric"], rows["value"], strict=True)}


def _log_mlflow(day: _Day, metrics: pd.DataFrame, paths: dict[str, Path],
                decision: RetrainDecision) -> str:
    from models.registry import client_for, resume_run, start_run

    s = day.settings
    uri, exp_name = s.tracking_uri, s.monitoring.experiment_name
    label = day.business_date.isoformat()
    found = client_for(uri).search_runs(
        [day.experiment_id], filter_string=f"tags.business_date = '{label}'", max_results=1)
    run = (resume_run(uri, found[0].info.run_id) if found else
           start_run(uri, exp_name, s.artifact_root, run_name=f"monitor-{label}",
                     tags={"business_date": label}))
    run.set_tags({"business_date": label, "champion_name": day.champion.name,
                  "champion_version": day.champion.version, "window_start":
                  day.window_start.isoformat(), "retrain": str(decision.fire).lower()})
    run.log_metrics(_mlflow_metrics(metrics))
    run.log_frame(metrics.drop(columns=["details"]), "metrics/monitoring_metrics.csv")
    for path in paths.values():
        folder = "drift" if path.suffix == ".html" else "plots"
        run.client.log_artifact(run.run_id, str(path), folder)
    run.finish()
    return run.run_id
