"""The early-performance target in monitoring: the bridge to the main label on the latest
matured vintages, and the early bad rate of the latest vintages whose early window has matured,
with the 12-month bad rate it implies; and the same on every such vintage the champion scored,
pooled (vintage ``scored``: its AUC is what the policy reads for concept drift).

A vintage's early bad rate is judged against what the champion expected of it: the mean of its
stored champion PDs mapped onto the early scale (``TargetBridge.to_early``); where the vintage was
scored before any stored score (a book loaded with its history), against the early bad rate of
the bridge vintages. A rate significantly above (``bad_rate_factor`` and ``bad_rate_alpha``, one-
sided binomial) alerts: PDs too low for how the newest loans repay, months before their 12-month
labels mature. Changes only with a new tape, so it is read once per tape
(``pipelines.warehouse.tape_cache``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import binom

from models import metrics as M
from models.bridge import BridgeError, TargetBridge
from models.holdout import holdout_flags
from pipelines.core.settings import Settings
from pipelines.monitoring.context import ALERT, OK, DayContext, MetricRows
from pipelines.monitoring.performance import mature_vintages
from pipelines.monitoring.portfolio import month_end_on_or_before
from pipelines.training.early import early_labels, measure_bridge, target_names
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import business_day_end, load_applications
from pipelines.warehouse.monitoring import champion_scores_between
from pipelines.warehouse.tape_cache import cached

COLUMNS = ["vintage", "n", "bads", "bad_rate", "expected", "expected_from", "ratio", "p_value",
           "implied_main_bad_rate", "auc", "holdout_n", "holdout_bad_rate"]
_MIN_SCORED = 0.8  # share of a vintage's labelled loans with a stored champion PD to use them
POOLED = "scored"  # the row of every early-matured vintage the champion scored, pooled


def early_vintages(settings: Settings, wh: Warehouse, as_of: date, count: int
                   ) -> tuple[TargetBridge | None, tuple[date, date] | None, pd.DataFrame]:
    """(bridge, its window, one row per early-matured vintage: COLUMNS). No bridge: no rows."""
    try:
        bridge, window = measure_bridge(settings, wh, as_of)
    except BridgeError:
        return None, None, pd.DataFrame(columns=COLUMNS)
    vintages = mature_vintages(as_of, settings.features.early.months, count)
    start, end = vintages[0].start_time.date(), vintages[-1].end_time.date()
    apps = load_applications(wh, start, end)
    if apps.empty:
        return bridge, window, pd.DataFrame(columns=COLUMNS)
    labels = early_labels(settings, wh, apps, business_day_end(as_of))
    frame = pd.DataFrame({"application_id": apps["application_id"].to_numpy(),
                          "vintage": apps["business_date"].dt.to_period("M").astype(str),
                          "bad": labels["bad"].to_numpy()}).dropna(subset=["bad"])
    scores = champion_scores_between(wh, start, end)[["application_id", "pd", "holdout"]]
    frame = frame.merge(scores.drop_duplicates("application_id"), on="application_id",
                        how="left")
    rows = [_vintage_row(str(v), g, bridge) for v, g in frame.groupby("vintage", sort=True)]
    scored = [g for _, g in frame.groupby("vintage") if g["pd"].notna().mean() >= _MIN_SCORED]
    if len(scored) > 1:  # one vintage holds a few dozen early bads: its AUC alone is noise
        rows.append(_vintage_row(POOLED, pd.concat(scored), bridge))
    return bridge, window, pd.DataFrame(rows, columns=COLUMNS)


def _vintage_row(vintage: str, g: pd.DataFrame, bridge: TargetBridge) -> dict:
    n, bads = len(g), int(g["bad"].sum())
    scored = g["pd"].notna()
    auc = float("nan")
    if scored.mean() >= _MIN_SCORED:
        pds = g.loc[scored, "pd"].to_numpy(dtype=float)
        expected, source = float(np.mean(bridge.to_early(pds))), "champion PDs"
        y = g.loc[scored, "bad"].to_numpy(dtype=float)
        auc = M.auc(y, pds) if 0 < y.sum() < y.size else auc
    else:
        expected, source = bridge.early_rate, "bridge vintages"
    rate = bads / n
    held = holdout_flags(g["holdout"])  # the policy holdout's loans, below the cut-off
    return {"holdout_n": int(held.sum()),
            "holdout_bad_rate": float(g.loc[held, "bad"].mean()) if held.any() else float("nan"),
            "vintage": vintage, "n": n, "bads": bads, "bad_rate": rate, "expected": expected,
            "expected_from": source,
            "ratio": rate / expected if expected > 0 else float("nan"),
            "p_value": float(binom.sf(bads - 1, n, expected)) if expected > 0 else float("nan"),
            "implied_main_bad_rate": float(bridge.to_final(rate)), "auc": auc}


def measure_early_target(ctx: DayContext, rows: MetricRows, wh: Warehouse) -> pd.DataFrame:
    """The bridge's rates (segment ``all``) and ``early_bad_rate`` per early-matured vintage
    (band alert/ok, as the module docstring says); returns the vintage table with ``alert``."""
    cfg, s = ctx.cfg, ctx.settings
    month = month_end_on_or_before(ctx.business_date).date()
    key = (s.features.early.model_dump_json(), s.features.performance_window_months,
           s.features.bad_bucket, cfg.realised_vintages)
    bridge, window, table = cached(wh, "early_target", month, key, lambda: early_vintages(
        s, wh, ctx.business_date, cfg.realised_vintages))
    table = table.assign(alert=(table["ratio"] >= cfg.bad_rate_factor)
                         & (table["p_value"] < cfg.bad_rate_alpha))
    if bridge is None or window is None:
        return table
    targets = target_names(s)
    for name, value in bridge.as_dict().items():
        rows.add(f"target_bridge.{name}", float(value), window=window,
                 details={"targets": targets})
    months = pd.PeriodIndex(table.loc[table["vintage"] != POOLED, "vintage"], freq="M")
    for r in table.itertuples():
        first, last = (months.min(), months.max()) if r.vintage == POOLED else \
            (pd.Period(r.vintage, "M"),) * 2
        rows.add("early_bad_rate", r.bad_rate, f"vintage={r.vintage}",
                 ALERT if r.alert else OK,
                 {"n": r.n, "bads": r.bads, "expected": r.expected,
                  "expected_from": r.expected_from, "ratio": r.ratio, "p_value": r.p_value,
                  "implied_main_bad_rate": r.implied_main_bad_rate, "auc": r.auc,
                  "holdout_n": r.holdout_n, "holdout_bad_rate": r.holdout_bad_rate,
                  "target": targets["early"]},
                 (first.start_time.date(), last.end_time.date()))
    return table
