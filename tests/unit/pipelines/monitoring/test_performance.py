"""Early delinquency (incidence by month on book, standardised on the baseline, Bonferroni across
dealers), matured vintages and realised-vs-predicted on hand-made data."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from pipelines.monitoring.performance import (
    early_delinquency,
    early_delinquency_counts,
    ed_months,
    event_buckets,
    flag_early_delinquency,
    mature_vintages,
    realised_by_vintage,
)

ME = pd.date_range("2024-01-31", periods=8, freq="ME")


def test_counts_stop_at_the_first_event_and_ignore_later_months_on_book() -> None:
    def loan(lid: str, buckets: list[str], first: int = 0) -> list[dict]:
        return [{"loan_id": lid, "as_of_month": ME[first + i], "months_on_book": i + 1,
                 "dpd_bucket": b, "status": "open"} for i, b in enumerate(buckets)]
    tape = pd.DataFrame(loan("A", ["1-30", "31-60", "61-90", "90+"])  # event at mob 2
                        + loan("B", ["current", "current", "current", "1-30"])  # none <= mob 3
                        + loan("C", ["current", "1-30", "31-60"], first=1))  # event at mob 3
    loans = pd.DataFrame({"loan_id": ["A", "B", "C"], "dealer_id": ["D1", "D1", "D2"]})
    c = early_delinquency_counts(tape, loans, ME[0].date(), ME[-1].date(), 3, "31-60")
    got = {(r.dealer_id, int(r.mob)): (int(r.events), int(r.at_risk))
           for r in c.groupby(["dealer_id", "mob"])[["events", "at_risk"]].sum()
           .reset_index().itertuples()}
    assert got == {("D1", 1): (0, 2), ("D1", 2): (1, 2), ("D1", 3): (0, 1),  # A gone after mob 2
                   ("D2", 1): (0, 1), ("D2", 2): (0, 1), ("D2", 3): (1, 1)}
    assert event_buckets("31-60") == ["31-60", "61-90", "90+", "charge-off"]


def _counts(rows: list[tuple[str, int, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["as_of_month", "mob", "dealer_id", "events", "at_risk"]
                        ).assign(as_of_month=lambda d: pd.to_datetime(d["as_of_month"]))


def test_expected_uses_the_baseline_hazard_of_each_month_on_book() -> None:
    base, recent = "2024-01-31", "2024-04-30"
    counts = _counts([
        (base, 2, "D1", 10, 1000), (base, 3, "D1", 40, 1000),  # hazard 1% at mob 2, 4% at 3
        (recent, 2, "D1", 12, 600), (recent, 3, "D2", 30, 500),
    ])
    ed = early_delinquency(counts, [pd.Timestamp(recent)], [pd.Timestamp(base)]).set_index(
        "segment")
    # expected: 600 * 1% + 500 * 4% = 26 overall; D1 6, D2 20
    assert ed.loc["all", "expected"] == pytest.approx(26.0)
    assert ed.loc["dealer_id=D1", "expected"] == pytest.approx(6.0)
    assert ed.loc["dealer_id=D1", "ratio"] == pytest.approx(2.0)
    assert ed.loc["all", "p_value"] == pytest.approx(poisson.sf(41, 26.0))
    assert ed.loc["all", "baseline_rate"] == pytest.approx(0.025)
    # A young recent book (mostly mob 2) is not a rise: the hazard is per month on book.
    young = _counts([(base, 2, "D1", 10, 1000), (base, 3, "D1", 40, 1000),
                     (recent, 2, "D1", 10, 1000), (recent, 3, "D1", 4, 100)])
    assert early_delinquency(young, [pd.Timestamp(recent)], [pd.Timestamp(base)]).set_index(
        "segment").loc["all", "ratio"] == pytest.approx(1.0)


def test_dealer_flags_need_volume_factor_and_a_bonferroni_p_value() -> None:
    ed = pd.DataFrame({
        "segment": ["all", "dealer_id=D1", "dealer_id=D2", "dealer_id=D3"]
        + [f"dealer_id=X{i}" for i in range(96)],
        "observed": [300, 30, 4, 11] + [3] * 96,
        "expected": [250.0, 10.0, 0.5, 4.0] + [2.5] * 96,
    })
    ed["ratio"] = ed["observed"] / ed["expected"]
    ed["p_value"] = poisson.sf(ed["observed"] - 1, ed["expected"])
    flagged = flag_early_delinquency(ed, factor=1.25, alpha=0.001, dealer_factor=2.0,
                                     dealer_alpha=0.01, dealer_min_events=5)
    got = dict(zip(flagged["segment"], flagged["alert"], strict=True))
    assert got["dealer_id=D1"]  # 30 vs 10: p ~ 1e-7 < 0.01 / 99
    assert not got["dealer_id=D2"]  # 4 events: below the minimum count
    assert ed.loc[3, "p_value"] < 0.01 and not got["dealer_id=D3"]  # not after Bonferroni
    assert not got["all"]  # x1.2 is below the portfolio factor
    assert got["all"] is not True and flagged["alert"].sum() == 1


def test_months_and_matured_vintages() -> None:
    recent, baseline = ed_months(date(2024, 9, 15), 3, 6)
    assert [m.date() for m in recent] == [date(2024, 6, 30), date(2024, 7, 31),
                                          date(2024, 8, 31)]
    assert baseline[0].date() == date(2023, 12, 31) and len(baseline) == 6
    assert [str(v) for v in mature_vintages(date(2024, 7, 31), 12, 3)] == [
        "2023-05", "2023-06", "2023-07"]
    assert str(mature_vintages(date(2024, 7, 30), 12, 1)[0]) == "2023-06"


def test_realised_by_vintage_compares_actual_with_predicted() -> None:
    rng = np.random.default_rng(3)
    p = np.full(4_000, 0.05)
    frame = pd.DataFrame({
        "vintage": ["2023-07"] * 2_000 + ["2023-08"] * 2_000, "model_version": "1", "pd": p,
        "bad": np.r_[rng.random(2_000) < 0.05, rng.random(2_000) < 0.10].astype(float)})
    table = realised_by_vintage(frame).set_index("vintage")
    assert table.loc["2023-07", "p_value"] > 0.01  # calibrated month
    assert table.loc["2023-08", "ratio"] > 1.6 and table.loc["2023-08", "p_value"] < 1e-6
    assert table.loc["2023-07", "auc"] == 0.5  # every PD tied: no ranking at all
    frame["pd"] = np.r_[rng.uniform(0.01, 0.2, 2_000), rng.uniform(0.01, 0.2, 2_000)]
    assert realised_by_vintage(frame)["auc"].notna().all()
