"""The roll-forward model's rows are point in time: month end M's features read only the tape rows
known when M's tape arrived, its label only the next month end's row; a row known later (a
restatement, the next month) changes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.roll import FEATURE_NAMES, RollInputError, roll_features, roll_labels

M = [pd.Timestamp(f"2024-{m:02d}-01") + pd.offsets.MonthEnd(0) for m in range(1, 7)]
LOANS = pd.DataFrame({"loan_id": ["A", "B", "C"], "loan_amount": [20_000.0, 10_000.0, 8_000.0],
                      "term_months": [60, 48, 36], "interest_rate": [0.08, 0.1, 0.12],
                      "monthly_payment": [400.0, 250.0, 260.0]})


def _row(loan: str, month: int, bucket: str, balance: float, status: str = "open",
         known: pd.Timestamp | None = None) -> dict:
    when = M[month]
    return {"loan_id": loan, "as_of_month": when, "months_on_book": month + 1,
            "dpd_bucket": bucket, "balance": balance, "status": status,
            "known_at": known if known is not None else when + pd.Timedelta(days=5)}


def _tape() -> pd.DataFrame:
    return pd.DataFrame([
        _row("A", 0, "current", 19_800), _row("A", 1, "current", 19_500),
        _row("A", 2, "1-30", 19_500), _row("A", 3, "31-60", 19_500),
        _row("A", 4, "61-90", 19_500),
        _row("B", 1, "current", 9_900), _row("B", 2, "1-30", 9_800),
        _row("B", 3, "1-30", 9_600), _row("B", 4, "current", 9_300, status="paid_off"),
        _row("C", 2, "31-60", 7_900), _row("C", 3, "61-90", 7_900),
        _row("C", 4, "61-90", 7_900, status="repossessed"),
    ])


def test_rows_features_and_labels_of_open_delinquent_loans() -> None:
    tape = _tape()
    rows = roll_features(tape, LOANS, M[2:4], history_months=4)
    assert list(rows.index) == ["A|2024-03-31", "B|2024-03-31", "C|2024-03-31",
                                "A|2024-04-30", "B|2024-04-30", "C|2024-04-30"]
    a = rows.loc["A|2024-04-30"]
    assert a["bucket_rank"] == 2 and a["worst_rank_recent"] == 2 and a["rank_change_1m"] == 1
    assert a["months_delinquent_recent"] == 2
    assert a["paid_share_3m"] == pytest.approx((19_800 - 19_500) / (3 * 400))
    assert a["remaining_term"] == 60 - 4 and a["balance_share"] == 19_500 / 20_000
    assert np.isnan(rows.loc["C|2024-03-31", "rank_change_1m"])  # new to the tape
    labels = roll_labels(tape, rows)
    # A worsens twice; B stays 1-30 then pays off (no roll); C rolls, then a repo is the worst
    assert labels.tolist() == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_a_row_known_after_the_month_end_changes_nothing() -> None:
    tape = _tape()
    before = roll_features(tape, LOANS, [M[3]], history_months=4)
    arrived = tape.loc[tape["as_of_month"] == M[3], "known_at"].max()
    late = arrived + pd.Timedelta(days=1)
    # a restatement of A's February row (now 90+, balance 0) loaded after April's tape, and a
    # new loan's April row sent late: April's snapshot did not see them
    restated = tape.copy()
    restated.loc[(restated["loan_id"] == "A") & (restated["as_of_month"] == M[1]),
                 ["dpd_bucket", "balance", "known_at"]] = ["61-90", 0.0, late]
    extra = pd.DataFrame([_row("D", 3, "90+", 5_000, known=late)])
    after = roll_features(pd.concat([restated, extra], ignore_index=True), LOANS, [M[3]],
                          history_months=4)
    pd.testing.assert_frame_equal(before, after)
    # nor does the next month's row, whatever it says, except through the label
    worse_next = tape.copy()
    worse_next.loc[worse_next["as_of_month"] == M[4], "dpd_bucket"] = "charge-off"
    pd.testing.assert_frame_equal(before, roll_features(worse_next, LOANS, [M[3]], 4))
    assert roll_labels(worse_next, before).tolist() == [1.0, 1.0, 1.0]


def test_the_label_waits_for_the_next_month() -> None:
    tape = _tape()
    known_by_may = tape[tape["as_of_month"] <= M[3]]  # May's tape has not arrived
    rows = roll_features(known_by_may, LOANS, [M[3]], history_months=4)
    assert roll_labels(known_by_may, rows).isna().all()
    assert set(FEATURE_NAMES) <= set(rows.columns)


def test_a_bucket_that_is_not_the_warehouse_s_is_named() -> None:
    tape = _tape()
    tape.loc[4, "dpd_bucket"] = "60DPD"
    with pytest.raises(RollInputError, match=r"tape row 4 \(loan A\), column dpd_bucket: "
                                             r"'60DPD'.*rule in_set"):
        roll_features(tape, LOANS, [M[3]])
