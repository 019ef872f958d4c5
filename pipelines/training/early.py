"""The early-performance target on warehouse data (``features.early``): its labels as known on a
date, and its bridge to the main label (``models.bridge``) measured on the latest vintages whose
main label has matured. The labels come from the one outcome definition
(``features.outcome``) through ``early_config``: a shorter window and its own bad bucket, the
same maturity rules (no label before the window has closed and its deciding tape month arrived).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from features import label_applications
from models.bridge import BridgeError, TargetBridge, target_bridge
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.settings import Settings
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import load_applications, shared_outcomes, target_config


def target_names(settings: Settings) -> dict[str, str]:
    """Each target in words, for records: which label a number was measured on."""
    f, e, epd = settings.features, settings.features.early, settings.epd
    return {"main": f"{f.bad_bucket} within {f.performance_window_months} months on book",
            "early": f"{e.bad_bucket} within {e.months} months on book",
            "epd": f"{epd.bad_bucket} within {epd.months} months on book"}


def target_labels(settings: Settings, wh: Warehouse, apps: pd.DataFrame, as_of: pd.Timestamp,
                  target: str = "main") -> pd.DataFrame:
    """``label_applications`` with a target's label (``target_config``), as known at
    ``as_of``."""
    cfg = target_config(settings, target)
    return label_applications(apps, shared_outcomes(wh, as_of.date(), cfg), as_of,
                              cfg.performance_window_months)


def early_labels(settings: Settings, wh: Warehouse, apps: pd.DataFrame,
                 as_of: pd.Timestamp) -> pd.DataFrame:
    """``label_applications`` with the early target, as known at ``as_of``."""
    return target_labels(settings, wh, apps, as_of, "early")


def main_labels(settings: Settings, wh: Warehouse, apps: pd.DataFrame,
                as_of: pd.Timestamp) -> pd.DataFrame:
    return target_labels(settings, wh, apps, as_of, "main")


def bridge_window(settings: Settings, as_of: date) -> tuple[date, date]:
    """The ``features.early.bridge_vintages`` latest months whose main label has matured."""
    end = latest_matured_month_end(as_of, settings.features.performance_window_months)
    start = (pd.Period(end, freq="M") - (settings.features.early.bridge_vintages - 1))
    return start.start_time.date(), end


def measure_bridge(settings: Settings, wh: Warehouse, as_of: date
                   ) -> tuple[TargetBridge, tuple[date, date]]:
    """The bridge on the bridge window's booked loans with both labels matured by ``as_of``
    (BridgeError when it cannot be measured there)."""
    window = bridge_window(settings, as_of)
    apps = load_applications(wh, *window)
    if apps.empty:
        raise BridgeError(f"no applications in the bridge window {window[0]}..{window[1]}")
    ts = pd.Timestamp(as_of)
    early = early_labels(settings, wh, apps, ts)["bad"].to_numpy()
    final = main_labels(settings, wh, apps, ts)["bad"].to_numpy()
    return target_bridge(early, final), window


def bridge_report(settings: Settings, wh: Warehouse, as_of: date) -> dict[str, Any]:
    """The bridge as a record (targets, window, rates), or the reason it could not be
    measured: what a training run and the model card report."""
    out: dict[str, Any] = {"targets": target_names(settings)}
    try:
        bridge, window = measure_bridge(settings, wh, as_of)
    except BridgeError as exc:
        return {**out, "error": str(exc)}
    return {**out, "window": f"{window[0]}..{window[1]}", **bridge.as_dict()}
