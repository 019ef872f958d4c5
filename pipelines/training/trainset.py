"""The training data: features and matured labels of each time window (see
pipelines.core.calendar)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features import (
    build_features,
    feature_specs,
    maturity_summary,
)
from features.coverage import features_with_data
from features.registry import FeatureSpec
from models.holdout import holdout_flags
from pipelines.core.calendar import Windows, plan_windows, window_of
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.training.early import bridge_report, target_labels
from pipelines.warehouse.book import latest_business_date
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    feature_config,
    infer_extra_features,
    load_applications,
    shared_outcomes,
    target_config,
)
from pipelines.warehouse.monitoring import champion_scores_between

WINDOW_NAMES = ("train", "early_stopping", "calibration", "oot")


class TrainingError(CreditflowError):
    """Training cannot go on; the message says which window or step."""


@dataclass
class TrainingSet:
    windows: Windows
    X: dict[str, pd.DataFrame]
    y: dict[str, np.ndarray]
    specs: list[FeatureSpec]
    # Every training-window application (booked or not, mature or not): the through-the-door
    # population that monitoring compares each day's applications with.
    population: pd.DataFrame | None = None
    # Every application of each window, likewise: approval, review and decline rates and a
    # target approval rate's cut-off are about every application, not the booked ones.
    applications: dict[str, pd.DataFrame] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    maturity: dict[str, Any] = field(default_factory=dict)
    # features left out because the training window has no data for them, with the reason
    dropped: dict[str, str] = field(default_factory=dict)
    # the early-performance target's bridge to the main label (pipelines.training.early)
    bridge: dict[str, Any] = field(default_factory=dict)
    # the label trained on: "main", "early" (a challenger that must learn a drift before
    # 12-month labels exist: windows end at the latest early-matured month) or "epd" (the
    # early-payment-default model's own label: windows end at the latest EPD-matured month)
    target: str = "main"
    # per application id (the index of X): approved by the policy holdout below the cut-off when it
    # was scored (models.holdout); the OOT window's are reported by evaluation
    holdout: pd.Series | None = None

    def rows(self) -> dict[str, int]:
        return {w: len(self.X[w]) for w in WINDOW_NAMES}


def data_as_of(wh: Warehouse) -> date:
    """The newest business date in the warehouse: what the data knows."""
    latest = latest_business_date(wh)
    if latest is None:
        raise TrainingError("the warehouse holds no applications: run `creditflow simulate` "
                            "or `creditflow ingest` first")
    return latest


def windows_for(settings: Settings, wh: Warehouse, train_end: date | None = None,
                oot_months: int | None = None, as_of: date | None = None,
                target: str = "main") -> Windows:
    t = settings.training
    perf = target_config(settings, target).performance_window_months
    return plan_windows(as_of or data_as_of(wh), perf,
                        t.train_months, t.early_stopping_months, t.calibration_months,
                        oot_months or t.oot_months, train_end or t.train_end)


def load_training_set(settings: Settings, wh: Warehouse, windows: Windows,
                      target: str = "main") -> TrainingSet:
    """Features and matured labels (the main or the early target) of every window; immature
    and unbooked rows are counted and left out (an immature loan is not a good loan)."""
    apps = load_applications(wh, windows.train[0], windows.oot[1])
    if apps.empty:
        raise TrainingError(f"no applications between {windows.train[0]} and {windows.oot[1]}")
    outcomes = shared_outcomes(wh, windows.as_of, feature_config(settings))
    as_of = pd.Timestamp(windows.as_of)
    labels = target_labels(settings, wh, apps, as_of, target)
    numeric, categorical = infer_extra_features(
        apps[window_of(apps["business_date"], windows) == "train"])
    specs = feature_specs(numeric, categorical, settings.features.allowed_policy_outputs)
    X_all = build_features(apps, outcomes, as_of, feature_config(settings), specs)
    which = window_of(apps["business_date"], windows).to_numpy()
    specs, dropped = features_with_data(X_all[which == "train"], specs,
                                        settings.training.min_feature_coverage)
    if not specs:
        raise TrainingError(f"no feature has data in the training window {windows.train}: "
                            + "; ".join(f"{n}: {why}" for n, why in dropped.items()))
    X_all = X_all[[s.name for s in specs]]
    ts = TrainingSet(windows=windows, X={}, y={}, specs=specs,
                     population=X_all[which == "train"], maturity=maturity_summary(labels),
                     dropped=dropped, target=target)
    split_windows(ts, X_all, which, labels)
    ts.bridge = bridge_report(settings, wh, windows.as_of)
    ts.holdout = holdout_of(wh, apps, windows.oot)
    return ts


def holdout_of(wh: Warehouse, apps: pd.DataFrame, window: tuple[date, date]) -> pd.Series:
    """Per application id (the feature matrices' index), whether the champion's policy holdout
    approved it; read for ``window`` only (the others are never reported)."""
    scores = champion_scores_between(wh, *window)[["application_id", "holdout"]]
    held = scores.drop_duplicates("application_id").set_index("application_id")["holdout"]
    flags = holdout_flags(apps["application_id"].map(held))
    return pd.Series(flags.to_numpy(), index=apps["application_id"].to_numpy())


def split_windows(ts: TrainingSet, X_all: pd.DataFrame, which: np.ndarray,
                  labels: pd.DataFrame) -> TrainingSet:
    """Each window's rows of ``X_all`` (``which``: the window name per row) into ``ts``: every
    row (``applications``), the labelled ones with their 0/1 label and the counts; ``labels``
    holds booked, mature and bad (NaN: no label) per row. A window without goods and bads stops
    training."""
    bad = labels["bad"].to_numpy()
    windows = ts.windows
    for name in WINDOW_NAMES:
        in_window = which == name
        keep = in_window & ~np.isnan(bad)
        ts.X[name] = X_all[keep]
        ts.applications[name] = X_all[in_window]
        ts.y[name] = bad[keep].astype(np.int8)
        ts.counts[name] = {
            "applications": int(in_window.sum()), "rows": int(keep.sum()),
            "bads": int(bad[keep].sum()),
            "immature": int((in_window & labels["booked"].to_numpy()
                             & ~labels["mature"].to_numpy()).sum()),
            "not_booked": int((in_window & ~labels["booked"].to_numpy()).sum()),
        }
        if ts.counts[name]["bads"] == 0 or ts.counts[name]["bads"] == keep.sum():
            raise TrainingError(f"{name} window {getattr(windows, name)} has "
                                f"{ts.counts[name]['rows']} labelled rows and "
                                f"{ts.counts[name]['bads']} bads: it needs goods and bads")
    return ts


def validate_training_set(settings: Settings, ts: TrainingSet) -> TrainingSet:
    """The features suite gates each window's matrix before any fit: a batch-level failure stops
    training (BatchRejected names the expectation); rows failing a row-level check are left out
    of the window and counted."""
    from pipelines.validation.gate import run_gate

    kind = "roll_features" if ts.target == "roll" else "features"  # loan-month rows: their suite
    for name in WINDOW_NAMES:
        X = ts.X[name]
        frame = X.reset_index()
        gate = run_gate(frame, kind, f"{kind}-{ts.windows.as_of}-{name}", settings,
                        business_date=ts.windows.as_of, data_docs=name == "train")
        if len(gate.passed) < len(frame):  # the usual window loses no row: no copy of it
            keep = frame.index.isin(gate.passed.index)
            ts.X[name], ts.y[name] = X[keep], ts.y[name][keep]
        ts.counts[name]["quarantined"] = len(frame) - len(gate.passed)
    return ts
