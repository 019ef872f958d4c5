"""Roll rates and vintage curves on a hand-made tape whose every transition is known."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.monitoring.portfolio import (
    FROM_BUCKETS,
    forward_rolls,
    month_end_on_or_before,
    month_ends_back,
    roll_rate_alerts,
    roll_rate_matrix,
    transition_counts,
    vintage_counts,
    vintage_curves,
)

ME = ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"]


def _loan(loan_id: str, buckets: list[str], last_status: str = "open",
          first: int = 0) -> list[dict]:
    rows = []
    for i, b in enumerate(buckets):
        status = last_status if i == len(buckets) - 1 else "open"
        rows.append({"loan_id": loan_id, "as_of_month": pd.Timestamp(ME[first + i]),
                     "months_on_book": i + 1, "dpd_bucket": b, "status": status,
                     "balance": 1000.0})
    return rows


def hand_tape() -> pd.DataFrame:
    return pd.DataFrame(
        _loan("A", ["current", "1-30", "31-60", "current"])  # slips twice, cures
        + _loan("B", ["current", "current", "current"], "paid_off")
        + _loan("C", ["1-30", "31-60", "61-90", "90+", "90+", "charge-off"], "charged_off")
        + _loan("D", ["current", "current", "1-30", "current"]))


def test_transition_counts_follow_each_loan_to_the_next_month_end() -> None:
    counts = transition_counts(hand_tape())
    got = {(str(r.as_of_month.date()), r.from_bucket, r.to_bucket): r.loans
           for r in counts.itertuples()}
    assert got == {
        ("2024-01-31", "current", "current"): 2, ("2024-01-31", "current", "1-30"): 1,
        ("2024-01-31", "1-30", "31-60"): 1,
        ("2024-02-29", "current", "current"): 1, ("2024-02-29", "current", "1-30"): 1,
        ("2024-02-29", "1-30", "31-60"): 1, ("2024-02-29", "31-60", "61-90"): 1,
        # B's pay-off row (03-31) is terminal: no transition from it
        ("2024-03-31", "31-60", "current"): 1, ("2024-03-31", "1-30", "current"): 1,
        ("2024-03-31", "61-90", "90+"): 1,
        ("2024-04-30", "90+", "90+"): 1,
        ("2024-05-31", "90+", "charge-off"): 1,
    }
    only_feb = transition_counts(hand_tape(), start=date(2024, 2, 1), end=date(2024, 2, 29))
    assert only_feb["as_of_month"].nunique() == 1 and only_feb["loans"].sum() == 4


def test_roll_rate_matrix_rows_are_shares_of_the_from_bucket() -> None:
    m = roll_rate_matrix(transition_counts(hand_tape()), pd.Timestamp("2024-01-31"))
    assert list(m.index) == FROM_BUCKETS and m.shape == (5, 6)
    assert m.loc["current", "current"] == pytest.approx(2 / 3)
    assert m.loc["current", "1-30"] == pytest.approx(1 / 3)
    assert m.loc["1-30", "31-60"] == 1.0
    assert m.loc["61-90"].isna().all()  # nobody in 61-90 at the end of January
    latest = roll_rate_matrix(transition_counts(hand_tape()))
    assert latest.loc["90+", "charge-off"] == 1.0


def test_forward_rolls_count_moves_to_a_worse_bucket_only() -> None:
    f = forward_rolls(transition_counts(hand_tape())).set_index(["as_of_month", "bucket"])
    assert f.loc[(pd.Timestamp("2024-01-31"), "current"), "rate"] == pytest.approx(1 / 3)
    assert f.loc[(pd.Timestamp("2024-02-29"), "current"), "rate"] == pytest.approx(1 / 2)
    assert f.loc[(pd.Timestamp("2024-03-31"), "31-60"), "rate"] == 0.0  # A cured
    assert f.loc[(pd.Timestamp("2024-04-30"), "90+"), "rate"] == 0.0  # second month of 90+
    assert f.loc[(pd.Timestamp("2024-05-31"), "90+"), "rate"] == 1.0


def _forward(rates: list[float], loans: int, bucket: str = "1-30") -> pd.DataFrame:
    months = [pd.Timestamp("2024-01-31") + pd.offsets.MonthEnd(i) for i in range(len(rates))]
    return pd.DataFrame({"as_of_month": months, "bucket": bucket, "loans": loans,
                         "rolled": [round(r * loans) for r in rates], "rate": rates})


@pytest.mark.parametrize(("rates", "loans", "alert"), [
    ([0.40, 0.41, 0.39, 0.40, 0.42, 0.38, 0.55], 1000, True),  # x1.38, p ~ 1e-21
    ([0.40, 0.41, 0.39, 0.40, 0.42, 0.38, 0.45], 1000, False),  # x1.13: below the factor
    ([0.40, 0.41, 0.39, 0.40, 0.42, 0.38, 0.80], 50, False),  # too few loans to judge
    ([0.40, 0.41, 0.60], 1000, False),  # two months of baseline: not enough
    ([0.40, 0.40, 0.40, 0.40, 0.40, 0.40, 0.52], 150, False),  # x1.3 but p ~ 0.002 > alpha
])
def test_roll_rate_alert_needs_factor_significance_volume_and_baseline(
        rates: list[float], loans: int, alert: bool) -> None:
    out = roll_rate_alerts(_forward(rates, loans), factor=1.25, baseline_months=6,
                           alpha=0.001, min_loans=100)
    row = out.iloc[0]
    assert bool(row["alert"]) is alert
    if len(rates) >= 7:
        assert row["baseline"] == pytest.approx(np.mean(rates[-7:-1]), abs=1e-3)
        assert row["next_month"] == row["as_of_month"] + pd.offsets.MonthEnd(1)


def test_roll_rate_baseline_uses_only_the_trailing_months() -> None:
    rates = [0.9, 0.9, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40, 0.55]  # old spike outside the window
    out = roll_rate_alerts(_forward(rates, 1000), 1.25, 6, 0.001, 100)
    assert out.iloc[0]["baseline"] == pytest.approx(0.40)
    assert bool(out.iloc[0]["alert"])


def test_month_helpers() -> None:
    assert month_end_on_or_before(date(2024, 3, 15)) == pd.Timestamp("2024-02-29")
    assert month_end_on_or_before(date(2024, 3, 31)) == pd.Timestamp("2024-03-31")
    assert month_ends_back(pd.Timestamp("2024-03-31"), 3) == [
        pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29"), pd.Timestamp("2024-03-31")]


def test_vintage_curves_cumulate_first_bad_months_and_hide_unseen_months() -> None:
    counts = pd.DataFrame({
        "origination_date": pd.to_datetime(["2024-01-10"] * 3 + ["2024-03-05"] * 2),
        "first_bad_mob": [np.nan, 4, 6, np.nan, 2],
        "loans": [8, 1, 1, 4, 1],
    })
    curves = vintage_curves(counts, date(2024, 5, 15), max_mob=6)
    assert list(curves.index) == ["2024-01", "2024-03"]
    # January: month ends Jan..Apr seen on 15 May -> months on book 1..4
    np.testing.assert_allclose(curves.loc["2024-01"].to_numpy()[:4], [0, 0, 0, 0.1])
    assert curves.loc["2024-01"].iloc[4:].isna().all()
    np.testing.assert_allclose(curves.loc["2024-03"].to_numpy()[:2], [0, 0.2])
    assert curves.loc["2024-03"].iloc[2:].isna().all()


def test_vintage_counts_from_frames() -> None:
    tape = hand_tape()
    loans = pd.DataFrame({"loan_id": ["A", "B", "C", "D"],
                          "origination_date": pd.to_datetime(["2024-01-05"] * 4)})
    counts = vintage_counts(loans, tape, date(2024, 1, 1), date(2024, 6, 30))
    assert counts["loans"].sum() == 4
    bad = counts.dropna(subset=["first_bad_mob"])
    assert bad[["first_bad_mob", "loans"]].values.tolist() == [[4, 1]]  # C reached 90+ at mob 4
    # As of April 15 the 90+ row (30 April) is not known yet.
    early = vintage_counts(loans, tape, date(2024, 1, 1), date(2024, 4, 15))
    assert early["first_bad_mob"].isna().all()
