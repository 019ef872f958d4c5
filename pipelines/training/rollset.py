"""The collections roll-forward model's training data (family "roll"): one row per open
delinquent loan and month end, its features from the tape known at that month end and its label
from the next month's tape (``features.roll``), split into the same four time windows as every
model (``pipelines.core.calendar``): the out-of-time window is the latest month ends whose next
month is on the tape known at the data date, never a random split.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pandas as pd

from features import maturity_summary
from features.coverage import features_with_data
from features.roll import FEATURE_NAMES, ROLL_FEATURES, roll_features, roll_labels
from pipelines.core.calendar import Windows, month_end, plan_windows, window_of
from pipelines.core.settings import Settings
from pipelines.training.trainset import TrainingError, TrainingSet, data_as_of, split_windows
from pipelines.warehouse.collections import latest_tape_month, roll_tape
from pipelines.warehouse.engine import Warehouse

NO_BRIDGE = {"error": "the roll-forward label is a loan's next month, not an application's"}


def roll_windows(settings: Settings, wh: Warehouse, train_end: date | None = None,
                 oot_months: int | None = None, as_of: date | None = None) -> Windows:
    """Windows of month ends ending at the latest one whose next month end is on the tape
    known at ``as_of`` (default: the data date), which stays the windows' ``as_of``."""
    as_of = as_of or data_as_of(wh)
    last = latest_tape_month(wh, as_of, settings.features.tape_lag_days)
    if last is None:
        raise TrainingError(f"no repayment tape is known by {as_of}: the roll-forward model "
                            "learns from it")
    t = settings.training
    label_end = (pd.Timestamp(last) - pd.offsets.MonthEnd(1)).date()
    windows = plan_windows(label_end, 0, t.train_months, t.early_stopping_months,
                           t.calibration_months, oot_months or t.oot_months,
                           train_end or t.train_end)
    return replace(windows, as_of=as_of)


def roll_rows(settings: Settings, wh: Warehouse, first: date, last: date,
              as_of: date) -> tuple[pd.DataFrame, pd.Series]:
    """(features, labels) of the open delinquent loans of every month end in [first, last],
    from the tape known by ``as_of``."""
    c = settings.collections
    tape, loans = roll_tape(wh, first, last, c.history_months, as_of,
                            settings.features.tape_lag_days)
    month_ends = list(pd.date_range(month_end(first), last, freq="ME"))
    rows = roll_features(tape, loans, month_ends, c.history_months)
    return rows, roll_labels(tape, rows)


def load_roll_training_set(settings: Settings, wh: Warehouse, windows: Windows) -> TrainingSet:
    """Every window's rows with a label (a loan whose tape stops is left out, counted as
    immature); features without data in the training window are left out with the reason."""
    rows, rolled = roll_rows(settings, wh, windows.train[0], windows.oot[1], windows.as_of)
    if rows.empty:
        raise TrainingError(f"no open delinquent loan on the tape from {windows.train[0]} to "
                            f"{windows.oot[1]}")
    which = window_of(rows["as_of_month"], windows).to_numpy()
    specs, dropped = features_with_data(rows.loc[which == "train", FEATURE_NAMES],
                                        list(ROLL_FEATURES),
                                        settings.training.min_feature_coverage)
    if not specs:
        raise TrainingError(f"no roll-forward feature has data in the training window "
                            f"{windows.train}: " + "; ".join(f"{n}: {why}"
                                                              for n, why in dropped.items()))
    X = rows[[s.name for s in specs]]
    labels = pd.DataFrame({"booked": True, "mature": rolled.notna(), "bad": rolled},
                          index=rows.index)
    ts = TrainingSet(windows=windows, X={}, y={}, specs=specs, population=X[which == "train"],
                     maturity=maturity_summary(labels), dropped=dropped, target="roll",
                     bridge=dict(NO_BRIDGE))
    return split_windows(ts, X, which, labels)


ROLL_LABEL = "rolls to a worse bucket by the next month end"


def roll_promotion_window(settings: Settings, wh: Warehouse) -> dict[str, Any]:
    """``promotion.oot_months`` month ends ending at the latest one whose next month is on the
    tape known at the data date: the window promotion re-scores both roll models on."""
    windows = roll_windows(settings, wh, oot_months=settings.promotion.oot_months)
    return {"start": windows.oot[0].isoformat(), "end": windows.oot[1].isoformat(),
            "as_of": windows.as_of.isoformat(), "months": settings.promotion.oot_months,
            "performance_window_months": 1, "target": "roll", "label": ROLL_LABEL}
