"""The loss forecast on warehouse data (``models.loss_forecast``): the next months' charge-offs
of the loans open on the latest month end's tape, from the trailing roll-rate matrix, and the
back-test of the same projection made ``horizon`` months earlier against the charge-offs the tape
then showed for exactly the loans open at that month end. Facts after the business date's
latest month end are never read."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from models.loss_forecast import backtest, project_charge_offs, trailing_matrix
from pipelines.core.settings import Settings
from pipelines.monitoring.context import MetricRows
from pipelines.monitoring.portfolio import (
    load_transition_counts,
    month_end_on_or_before,
    transition_span,
)
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.forecast import cohort_charge_offs, open_bucket_counts
from pipelines.warehouse.tape_cache import cached


def projection_at(wh: Warehouse, counts: pd.DataFrame, month: pd.Timestamp, months: int,
                  horizon: int) -> tuple[pd.DataFrame, int]:
    """The projection from ``month``'s open loans with the roll rates known at it (transitions
    into month ends up to ``month``), and how many loans were open."""
    dist = open_bucket_counts(wh, month.date())
    matrix = trailing_matrix(counts, month - pd.offsets.MonthEnd(1), months)
    return project_charge_offs(dist, matrix, horizon), int(dist.sum())


def loss_forecast(settings: Settings, wh: Warehouse, as_of: date) -> dict[str, Any]:
    """The forecast from the latest month end, its back-test from ``horizon`` months before,
    and the figures monitoring stores (``metrics``)."""
    m = settings.monitoring
    months, horizon = m.roll_rate_baseline_months, m.loss_forecast_months
    last = month_end_on_or_before(as_of)
    counts = load_transition_counts(wh, as_of, months + horizon, transition_span(m))
    forecast, open_now = projection_at(wh, counts, last, months, horizon)
    then = last - pd.offsets.MonthEnd(horizon)
    projected, open_then = projection_at(wh, counts, then, months, horizon)
    test = backtest(projected, cohort_charge_offs(wh, then.date(), last.date()))
    end = test.iloc[-1]
    metrics = {"loss_forecast_charge_offs": float(forecast["cumulative"].iloc[-1]),
               "loss_forecast_rate": (float(forecast["cumulative"].iloc[-1]) / open_now
                                      if open_now else float("nan")),
               "loss_backtest_forecast": float(end["cumulative"]),
               "loss_backtest_actual": float(end["actual_cumulative"]),
               "loss_backtest_ratio": float(end["ratio"])}
    return {"month": last.date(), "backtest_month": then.date(), "open_loans": open_now,
            "backtest_open_loans": open_then, "forecast": forecast, "backtest": test,
            "metrics": metrics}


def _forecast_if_any(settings: Settings, wh: Warehouse, as_of: date) -> dict[str, Any] | None:
    """``loss_forecast``, or None while the tape holds no transition yet."""
    m = settings.monitoring
    counts = load_transition_counts(wh, as_of, m.roll_rate_baseline_months
                                    + m.loss_forecast_months, transition_span(m))
    return None if counts.empty else loss_forecast(settings, wh, as_of)


def record_loss_forecast(settings: Settings, wh: Warehouse, as_of: date,
                         rows: MetricRows) -> dict[str, Any] | None:
    """The forecast's metrics for a monitored day (None: no tape transitions yet); the same
    every day of a tape month, so computed once per tape (``tape_cache``)."""
    m = settings.monitoring
    last = month_end_on_or_before(as_of)
    # one cache look-up a day (each costs a tape-version query), the emptiness check inside it
    out = cached(wh, "loss_forecast", last.date(),
                 (m.roll_rate_baseline_months, m.loss_forecast_months),
                 lambda: _forecast_if_any(settings, wh, as_of))
    if out is None:
        return None
    ahead = (last + pd.offsets.MonthEnd(m.loss_forecast_months)).date()
    rows.add("loss_forecast_charge_offs", out["metrics"]["loss_forecast_charge_offs"],
             details={"open_loans": out["open_loans"], "rate":
                      out["metrics"]["loss_forecast_rate"], "per_month": [
                          round(float(v), 3) for v in out["forecast"]["charge_offs"]]},
             window=(out["month"], ahead))
    bt = out["backtest"]
    rows.add("loss_backtest_ratio", out["metrics"]["loss_backtest_ratio"],
             details={"made_on": out["backtest_month"], "open_loans":
                      out["backtest_open_loans"],
                      "forecast": [round(float(v), 3) for v in bt["charge_offs"]],
                      "actual": [int(v) for v in bt["actual"]]},
             window=(out["backtest_month"], out["month"]))
    return out
