"""The evidence a decision rests on: both models re-scored on the same out-of-time window.

The window is ``promotion.oot_months`` whole months ending at the latest matured month end as of
the warehouse's data date. Discrimination and calibration (AUC, KS, Brier, ECE) are measured on the
window's booked loans with matured labels; approval rates at the current cut-offs
(``scoring.approve_at`` / ``decline_below``) and the score PSI between the two models on every
application of the window: the through-the-door population the cut-offs act on. Features are
built once per distinct feature-spec set with the shared builder (``as_of`` = the data date, as in
training). Intervals come from paired bootstraps seeded by ``settings.seed``: both models see the
same resampled rows; the AUC uplift's interval is ``models.metrics.bootstrap_auc_diff``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features import build_features, label_applications
from models import metrics as M
from models.pd_model import PDModel
from models.promotion_rules import (
    approval_statistic,
    labelled_statistic,
    metric_table,
    paired_intervals,
    shadow_summary,
)
from models.scaling import pd_to_score
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.settings import Settings
from pipelines.promotion.decision import PromotionError
from pipelines.scoring.models import CHAMPION, SHADOW, model_specs
from pipelines.training.trainset import data_as_of
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_config, load_applications, shared_outcomes
from pipelines.warehouse.promotion import shadow_pairs


def promotion_window(settings: Settings, wh: Warehouse) -> dict[str, Any]:
    """``promotion.oot_months`` whole months ending at the latest matured month end."""
    as_of = data_as_of(wh)
    perf = settings.features.performance_window_months
    end = latest_matured_month_end(as_of, perf)
    months = settings.promotion.oot_months
    start = (pd.Period(end, freq="M") - (months - 1)).start_time.date()
    return {"start": start.isoformat(), "end": end.isoformat(), "as_of": as_of.isoformat(),
            "months": months, "performance_window_months": perf}


@dataclass
class WindowData:
    """The window's applications with their matured labels (booked and mature rows only)."""

    apps: pd.DataFrame
    outcomes: pd.DataFrame
    labelled: np.ndarray  # bool per application
    y: np.ndarray  # 0/1 of the labelled rows
    counts: dict[str, int]
    as_of: pd.Timestamp  # the data date: labels and dealer history as known then


def load_window(settings: Settings, wh: Warehouse, window: Mapping[str, Any]) -> WindowData:
    start, end = date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
    as_of = date.fromisoformat(window["as_of"])
    apps = load_applications(wh, start, end)
    outcomes = shared_outcomes(wh, as_of, feature_config(settings))
    labels = label_applications(apps, outcomes, pd.Timestamp(as_of),
                                settings.features.performance_window_months)
    bad = labels["bad"].to_numpy()
    labelled = ~np.isnan(bad)
    y = bad[labelled].astype(np.int8)
    counts = {"applications": len(apps), "labelled": int(labelled.sum()),
              "bads": int(y.sum()),
              "immature": int((labels["booked"] & ~labels["mature"]).sum()),
              "not_booked": int((~labels["booked"]).sum())}
    if not 0 < counts["bads"] < counts["labelled"]:
        raise PromotionError(f"promotion window {start}..{end} holds {counts['labelled']} "
                             f"labelled loans with {counts['bads']} bads: it needs goods and "
                             "bads (check promotion.oot_months and the data date)")
    return WindowData(apps, outcomes, labelled, y, counts, pd.Timestamp(as_of))


def predict_window(settings: Settings, data: WindowData,
                   models: Mapping[str, PDModel]) -> dict[str, np.ndarray]:
    """PD of every application per model; features built once per distinct spec set."""
    frames: dict[tuple, pd.DataFrame] = {}
    out = {}
    for role, model in models.items():
        specs = tuple(model_specs(model))
        if specs not in frames:
            frames[specs] = build_features(data.apps, data.outcomes, data.as_of,
                                           feature_config(settings), list(specs))
        out[role] = model.predict_pd(frames[specs][model.feature_names])
    return out


def gather_evidence(settings: Settings, data: WindowData,
                    models: Mapping[str, PDModel]) -> dict[str, Any]:
    """Metrics of every model on the window with paired-bootstrap intervals, the AUC uplift's
    interval (``bootstrap_auc_diff``) and the score PSI between the models."""
    p, sc = settings.promotion, settings.scoring
    pds = predict_window(settings, data, models)
    scores = {r: pd_to_score(v, sc.base_score, sc.base_odds, sc.pdo) for r, v in pds.items()}
    lab = {r: v[data.labelled] for r, v in pds.items()}
    point = {}
    for role in pds:
        m = M.credit_metrics(data.y, lab[role], scores[role][data.labelled], sc.approve_at,
                             sc.decline_below)
        # through the door: every application of the window, booked or not
        m.update(M.approval_stats(None, scores[role], sc.approve_at, sc.decline_below))
        point[role] = m
    intervals = paired_intervals(int(data.labelled.sum()), labelled_statistic(data.y, lab),
                                 p.bootstrap_samples, p.ci_level, settings.seed)
    intervals |= paired_intervals(len(data.apps), approval_statistic(
        scores, sc.approve_at, sc.decline_below), p.bootstrap_samples, p.ci_level,
        settings.seed + 1)
    auc_diff = None
    psi_value = None
    if len(pds) == 2:
        auc_diff = M.bootstrap_auc_diff(data.y, lab["challenger"], lab["champion"],
                                        n=p.bootstrap_samples, level=p.ci_level,
                                        seed=settings.seed)
        psi_value = M.psi(scores["champion"], scores["challenger"],
                          bins=settings.monitoring.psi_bins, eps=settings.monitoring.psi_epsilon)
    return {"point": point, "auc_diff": auc_diff, "score_psi": psi_value,
            "table": metric_table(point, intervals, auc_diff)}


def shadow_period(settings: Settings, wh: Warehouse, version: str) -> dict[str, Any] | None:
    """The challenger's shadow scores against the champion's on the same applications, if daily
    scoring has produced any (ids are joined in SQL and never leave it)."""
    frame = shadow_pairs(wh, settings.training.registered_model_name, str(version),
                         shadow_role=SHADOW, champion_role=CHAMPION)
    return shadow_summary(frame, settings.monitoring.psi_bins, settings.monitoring.psi_epsilon)
