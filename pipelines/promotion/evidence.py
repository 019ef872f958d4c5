"""The evidence a decision rests on: both models re-scored on the same out-of-time window.

The window is ``promotion.oot_months`` whole months ending at the latest matured month end as of
the warehouse's data date. Discrimination and calibration (AUC, KS, Brier, ECE) are measured on the
window's booked loans with matured labels; approval, review and decline rates and the score PSI
between the two models on every application of the window (the through-the-door population the
cut-offs act on), each version at its own cut-offs exactly as scoring applies them
(``pipelines.scoring.models.recorded_cutoffs``). The same window gives the challenger's monotone
sweep (``models.fit.check_monotone``) and the reason stability between the two models: on
applications both decline or refer, how often they give the same first reason and the same set.
Features are built once per distinct feature-spec set with the shared builder (``as_of`` = the
data date, as in training). Intervals come from paired bootstraps seeded by ``settings.seed``:
both models see the same resampled rows; the AUC uplift's interval is
``models.metrics.bootstrap_auc_diff``. A window with a ``split`` (a recalibration, whose
calibrator was fitted on one part of an id split of these months) holds the other part's
applications only, for both models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features import build_features
from models import metrics as M
from models.bridge import TargetBridge
from models.fit import check_monotone
from models.pd_model import PDModel
from models.policy import reason_codes_needed
from models.promotion_rules import (
    approval_statistic,
    labelled_statistic,
    metric_table,
    paired_intervals,
    shadow_summary,
)
from models.reasons import agreement, top_codes
from models.scaling import decide_by_score, pd_to_score
from models.split import IdSplit
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.settings import Settings
from pipelines.promotion.decision import PromotionError
from pipelines.scoring.models import CHAMPION, SHADOW, model_specs
from pipelines.scoring.reason_codes import reason_table
from pipelines.training.early import measure_bridge, target_labels, target_names
from pipelines.training.rollset import roll_promotion_window, roll_rows
from pipelines.training.trainset import data_as_of
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    feature_config,
    load_applications,
    shared_outcomes,
    target_config,
)
from pipelines.warehouse.promotion import shadow_pairs


def promotion_window(settings: Settings, wh: Warehouse, target: str = "main") -> dict[str, Any]:
    """``promotion.oot_months`` whole months ending at the latest month end whose label has
    matured: the main label's, or for a challenger that relies on the early-performance target
    (``target="early"``: a recalibration or early-target challenger) the early one's, or for
    an EPD model (``target="epd"``) its own label's; for the roll-forward model
    (``target="roll"``) the latest month ends whose next month is on the tape."""
    if target == "roll":
        return roll_promotion_window(settings, wh)
    as_of = data_as_of(wh)
    perf = target_config(settings, target).performance_window_months
    end = latest_matured_month_end(as_of, perf)
    months = settings.promotion.oot_months
    start = (pd.Period(end, freq="M") - (months - 1)).start_time.date()
    return {"start": start.isoformat(), "end": end.isoformat(), "as_of": as_of.isoformat(),
            "months": months, "performance_window_months": perf, "target": target,
            "label": target_names(settings)[target]}


@dataclass
class WindowData:
    """The window's applications with their matured labels (booked and mature rows only)."""

    apps: pd.DataFrame
    outcomes: pd.DataFrame
    labelled: np.ndarray  # bool per application
    y: np.ndarray  # 0/1 of the labelled rows
    counts: dict[str, int]
    as_of: pd.Timestamp  # the data date: labels and dealer history as known then
    # early-target windows: PDs are judged on the early scale through the bridge
    bridge: TargetBridge | None = None
    # rows that are not applications (the roll-forward model's loan-months): built already
    features: pd.DataFrame | None = None


def load_window(settings: Settings, wh: Warehouse, window: Mapping[str, Any]) -> WindowData:
    start, end = date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
    as_of = date.fromisoformat(window["as_of"])
    if window.get("target") == "roll":  # loan-month rows, features and labels from the tape
        rows, rolled = roll_rows(settings, wh, start, end, as_of)
        labels = pd.DataFrame({"booked": True, "mature": rolled.notna(), "bad": rolled})
        return _window_data(rows, rows.iloc[:0], labels, as_of, window, features=rows)
    apps = load_applications(wh, start, end)
    split = IdSplit.from_dict(window.get("split"))
    if split is not None:  # the challenger was fitted on the other part of this window
        apps = apps[~split.first(apps["application_id"])].reset_index(drop=True)
    outcomes = shared_outcomes(wh, as_of, feature_config(settings))
    target = window.get("target", "main")
    labels = target_labels(settings, wh, apps, pd.Timestamp(as_of), target)
    # an early-target PD model is judged on the early scale; an EPD model on its own label
    bridge = measure_bridge(settings, wh, as_of)[0] if target == "early" else None
    return _window_data(apps, outcomes, labels, as_of, window, bridge)


def _window_data(apps: pd.DataFrame, outcomes: pd.DataFrame, labels: pd.DataFrame,
                 as_of: date, window: Mapping[str, Any], bridge: TargetBridge | None = None,
                 features: pd.DataFrame | None = None) -> WindowData:
    """The window's rows with their labels (``labels``: booked, mature, bad per row) and
    counts; a window without goods and bads cannot judge a model."""
    bad = labels["bad"].to_numpy()
    labelled = ~np.isnan(bad)
    y = bad[labelled].astype(np.int8)
    counts = {"applications": len(apps), "labelled": int(labelled.sum()),
              "bads": int(y.sum()),
              "immature": int((labels["booked"] & ~labels["mature"]).sum()),
              "not_booked": int((~labels["booked"]).sum())}
    if not 0 < counts["bads"] < counts["labelled"]:
        raise PromotionError(f"promotion window {window['start']}..{window['end']} holds "
                             f"{counts['labelled']} labelled loans with {counts['bads']} bads: "
                             "it needs goods and bads (check promotion.oot_months and the data "
                             "date)")
    return WindowData(apps, outcomes, labelled, y, counts, pd.Timestamp(as_of), bridge,
                      features)


def window_features(settings: Settings, data: WindowData,
                    models: Mapping[str, PDModel]) -> dict[str, pd.DataFrame]:
    """Every application's features per model; built once per distinct spec set."""
    frames: dict[tuple, pd.DataFrame] = {}
    out = {}
    for role, model in models.items():
        if data.features is not None:
            out[role] = data.features[model.feature_names]
            continue
        specs = tuple(model_specs(model))
        if specs not in frames:
            frames[specs] = build_features(data.apps, data.outcomes, data.as_of,
                                           feature_config(settings), list(specs))
        out[role] = frames[specs][model.feature_names]
    return out


def gather_evidence(settings: Settings, data: WindowData, models: Mapping[str, PDModel],
                    cutoffs: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """Metrics of every model on the window with paired-bootstrap intervals, the AUC uplift's
    interval (``bootstrap_auc_diff``), the score PSI between the models, the challenger's
    monotone sweep and the reason stability; ``cutoffs``: each role's (approve_at,
    decline_below)."""
    p, sc = settings.promotion, settings.scoring
    frames = window_features(settings, data, models)
    pds = {role: model.predict_pd(frames[role]) for role, model in models.items()}
    scores = {r: pd_to_score(v, sc.base_score, sc.base_odds, sc.pdo) for r, v in pds.items()}
    lab = {r: v[data.labelled] for r, v in pds.items()}
    if data.bridge is not None:  # 12-month PDs judged against early labels on their scale
        lab = {r: data.bridge.to_early(v) for r, v in lab.items()}
    point = {}
    for role in pds:
        m = M.credit_metrics(data.y, lab[role], scores[role][data.labelled], *cutoffs[role])
        # through the door: every application of the window, booked or not
        m.update(M.approval_stats(None, scores[role], *cutoffs[role]))
        point[role] = m
    intervals = paired_intervals(int(data.labelled.sum()), labelled_statistic(data.y, lab),
                                 p.bootstrap_samples, p.ci_level, settings.seed)
    intervals |= paired_intervals(len(data.apps), approval_statistic(scores, cutoffs),
                                  p.bootstrap_samples, p.ci_level, settings.seed + 1)
    auc_diff = None
    psi_value = None
    if len(pds) == 2:
        auc_diff = M.bootstrap_auc_diff(data.y, lab["challenger"], lab["champion"],
                                        n=p.bootstrap_samples, level=p.ci_level,
                                        seed=settings.seed)
        psi_value = M.psi(scores["champion"], scores["challenger"],
                          bins=settings.monitoring.psi_bins, eps=settings.monitoring.psi_epsilon)
    challenger = models["challenger"]
    monotone = check_monotone(challenger.booster, frames["challenger"], challenger.monotone,
                              seed=settings.seed)
    stability = None
    if len(pds) == 2:
        stability = reason_stability(settings, models, frames, scores, cutoffs)
    return {"point": point, "auc_diff": auc_diff, "score_psi": psi_value,
            "table": metric_table(point, intervals, auc_diff), "monotone": monotone,
            "reason_stability": stability}


def reason_stability(settings: Settings, models: Mapping[str, PDModel],
                     frames: Mapping[str, pd.DataFrame], scores: Mapping[str, np.ndarray],
                     cutoffs: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """Top-1 and top-k agreement of the two models' reason codes (exact contributions) on a
    seeded sample of at most ``promotion.reason_sample_rows`` applications both would decline
    or refer: a notice should not change because the model did."""
    both = np.ones(len(next(iter(scores.values()))), dtype=bool)
    for role, s in scores.items():
        both &= reason_codes_needed(decide_by_score(s, *cutoffs[role]))
    rows = np.flatnonzero(both)
    n = min(len(rows), settings.promotion.reason_sample_rows)
    rows = np.sort(np.random.default_rng(settings.seed).choice(rows, n, replace=False))
    table, k = reason_table(settings), settings.scoring.reason_codes
    codes = {role: top_codes(model.contributions(frames[role].iloc[rows]), model.feature_names,
                             table, k) for role, model in models.items()}
    out = agreement(codes["challenger"], codes["champion"])
    return {"rows": out["rows"], "k": float(k), "top1_agreement": out["top1"],
            "topk_agreement": out["topk"]}


def shadow_period(settings: Settings, wh: Warehouse, version: str) -> dict[str, Any] | None:
    """The challenger's shadow scores against the champion's on the same applications, if daily
    scoring has produced any (ids are joined in SQL and never leave it)."""
    frame = shadow_pairs(wh, settings.training.registered_model_name, str(version),
                         shadow_role=SHADOW, champion_role=CHAMPION)
    return shadow_summary(frame, settings.monitoring.psi_bins, settings.monitoring.psi_epsilon)
