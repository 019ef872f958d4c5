"""The loss forecast from migration rates and its back-test, on a constructed tape in a real
SQLite warehouse: every figure below is worked out by hand in the docstring."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.loss_forecast import backtest, project_charge_offs, trailing_matrix
from pipelines.core.settings import Settings
from pipelines.monitoring.loss import loss_forecast
from pipelines.warehouse.engine import Warehouse
from tests.unit.features.test_labels_real_tape import OPEN, tape

CUR, CO = OPEN, ("charge-off", "charged_off")


def _late(bucket: str) -> tuple[str, str]:
    return (bucket, "open")


def _roll(start: int) -> list[tuple[str, str]]:
    """Current, then 1-30 from month end ``start`` (0 = Jan 2023), one bucket a month, charged
    off four months later; the tape ends there."""
    return [CUR] * start + [_late(b) for b in ("1-30", "31-60", "61-90", "90+")] + [CO]


def test_the_back_test_of_a_constructed_tape(settings: Settings, sqlite_wh: Warehouse) -> None:
    """Eight loans always current; R1, R2, R3 roll from April, June, August (charged off in
    August, October, December); C slips to 1-30 in July and cures; N is booked after September
    at 61-90 and is charged off in December. Projection made on 30 Sep (3 months, roll rates of
    the transitions from July and August): current 17/18 stay and 1/18 roll (R3 in July), 1-30
    half cure (C) and half roll (R3), 31-60, 61-90 and 90+ roll in full (R2, R2, R1). Open on 30
    Sep: 9 current, R3 at 31-60, R2 at 90+. Charge-offs: R2's 90+ in October (1), none in
    November (90+ is empty then), R3's path in December (1): 1, 0, 1, the same as what the tape
    shows for those loans (N is not among them): ratio 1. On 31 Dec only 9 current loans are
    open and no current loan rolled in October or November: nothing is forecast."""
    rows = [tape(f"G{i}", [CUR] * 12) for i in range(8)]
    rows += [tape("R1", _roll(3)), tape("R2", _roll(5)), tape("R3", _roll(7)),
             tape("C", [CUR] * 6 + [_late("1-30")] + [CUR] * 5),
             tape("N", [_late("61-90"), _late("90+"), CO], first="2023-10-31")]
    sqlite_wh.upsert("repayments", pd.concat(rows, ignore_index=True))
    s = settings.model_copy(update={"monitoring": settings.monitoring.model_copy(
        update={"roll_rate_baseline_months": 2, "loss_forecast_months": 3})})
    out = loss_forecast(s, sqlite_wh, date(2024, 1, 5))
    assert out["month"] == date(2023, 12, 31) and out["backtest_month"] == date(2023, 9, 30)
    bt = out["backtest"]
    assert bt["charge_offs"].to_numpy() == pytest.approx([1.0, 0.0, 1.0])
    assert bt["actual"].tolist() == [1.0, 0.0, 1.0]
    assert bt["ratio"].tolist() == [1.0, 1.0, 1.0]
    assert out["backtest_open_loans"] == 11 and out["open_loans"] == 9
    assert out["metrics"]["loss_forecast_charge_offs"] == pytest.approx(0.0)
    assert out["metrics"]["loss_backtest_ratio"] == 1.0


def test_projection_arithmetic_and_the_ratio() -> None:
    counts = pd.DataFrame({"as_of_month": pd.Timestamp("2024-01-31"),
                           "from_bucket": ["current", "current", "90+", "90+"],
                           "to_bucket": ["current", "1-30", "charge-off", "90+"],
                           "loans": [90, 10, 1, 3]})
    m = trailing_matrix(counts, pd.Timestamp("2024-01-31"), 1)
    assert m.loc["current", "1-30"] == pytest.approx(0.1)
    assert m.loc["31-60", "31-60"] == 1.0 and m.loc["charge-off", "charge-off"] == 1.0
    fc = project_charge_offs(pd.Series({"90+": 100, "charge-off": 7}), m, 2)
    # 25% of 90+ each month: 25, then 25% of the 75 left
    assert fc["charge_offs"].to_numpy() == pytest.approx([25.0, 18.75])
    bt = backtest(fc, pd.Series([20], index=[2]))
    assert np.isnan(bt["ratio"].iloc[0]) and bt["ratio"].iloc[1] == pytest.approx(43.75 / 20)


class _Rows:
    def __init__(self) -> None:
        self.metrics: list[str] = []

    def add(self, metric: str, *args: object, **kwargs: object) -> None:
        self.metrics.append(metric)


def test_recorded_once_a_tape_holds_transitions(settings: Settings,
                                                sqlite_wh: Warehouse) -> None:
    """No transition on the tape: no forecast and no rows; the tape's arrival (a new tape
    version) brings both, even if the empty answer was read first."""
    from pipelines.monitoring.loss import record_loss_forecast
    from pipelines.warehouse import tape_cache

    tape_cache.clear()
    day = date(2024, 1, 5)
    empty = _Rows()
    assert record_loss_forecast(settings, sqlite_wh, day, empty) is None  # type: ignore[arg-type]
    assert empty.metrics == []
    sqlite_wh.upsert("repayments", pd.concat([tape(f"G{i}", [CUR] * 12) for i in range(3)],
                                             ignore_index=True))
    rows = _Rows()
    out = record_loss_forecast(settings, sqlite_wh, day, rows)  # type: ignore[arg-type]
    assert out is not None and out["month"] == date(2023, 12, 31)
    assert rows.metrics == ["loss_forecast_charge_offs", "loss_backtest_ratio"]
