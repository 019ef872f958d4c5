"""The target with maturity on hand-made frames whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FeatureInputError, label_applications, maturity_summary
from tests.histories import complete_history

T = pd.Timestamp
AS_OF = T("2024-06-30")

# application_id, application_ts, known_bad
APPS = [
    ("A_declined", "2023-01-05 10:00", None),
    ("B_good", "2023-01-10 10:00", None),
    ("C_bad", "2023-02-01 10:00", None),
    ("D_bad_late", "2023-03-01 10:00", None),  # first 90+ after its 12-month window
    ("E_immature", "2023-09-01 10:00", None),  # already bad, but too young to be labelled
    ("F_no_tape", "2023-01-20 10:00", None),  # booked and mature, never on the tape
    ("G_byo_bad", "2022-11-01 10:00", 1.0),  # bring-your-own final label, old enough
    ("H_byo_young", "2024-01-01 10:00", 0.0),  # bring-your-own label, window not over
    ("I_after_as_of", "2024-06-29 10:00", None),  # loan originated after as_of
    ("J_boundary", "2023-06-30 09:00", None),  # window closes exactly at as_of
]
# application_id, origination_date, first_bad_month, last_tape_month
LOANS = [
    ("B_good", "2023-01-10", None, "2024-06-30"),
    ("C_bad", "2023-02-01", "2023-09-30", "2023-11-30"),
    ("D_bad_late", "2023-03-01", "2024-04-30", "2024-06-30"),
    ("E_immature", "2023-09-01", "2024-02-29", "2024-04-30"),
    ("F_no_tape", "2023-01-20", None, None),
    ("I_after_as_of", "2024-07-01", None, None),
    ("J_boundary", "2023-06-30", "2024-06-30", "2024-06-30"),
]


def frames(months: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    apps = pd.DataFrame(APPS, columns=["application_id", "application_ts", "known_bad"])
    apps["application_ts"] = pd.to_datetime(apps["application_ts"])
    apps["known_bad"] = apps["known_bad"].astype("float64")
    hist = pd.DataFrame(LOANS, columns=["application_id", "origination_date", "first_bad_month",
                                        "last_tape_month"])
    hist["loan_id"] = "L-" + hist["application_id"]
    hist["dealer_id"] = "D1"
    return apps, complete_history(hist, months, tape_reach=AS_OF)


def test_each_case_gets_its_known_label() -> None:
    apps, hist = frames()
    labels = label_applications(apps, hist, AS_OF, 12)
    assert list(labels.index) == [a[0] for a in APPS]
    expected = {  # booked, mature, bad
        "A_declined": (False, False, np.nan), "B_good": (True, True, 0.0),
        "C_bad": (True, True, 1.0), "D_bad_late": (True, True, 0.0),
        "E_immature": (True, False, np.nan), "F_no_tape": (True, True, np.nan),
        "G_byo_bad": (True, True, 1.0), "H_byo_young": (True, False, np.nan),
        "I_after_as_of": (False, False, np.nan), "J_boundary": (True, True, 1.0),
    }
    for app_id, (booked, mature, bad) in expected.items():
        row = labels.loc[app_id]
        assert (row["booked"], row["mature"]) == (booked, mature), app_id
        assert row["bad"] == bad or (np.isnan(bad) and np.isnan(row["bad"])), app_id
    assert labels.dtypes.to_dict() == {"booked": np.dtype(bool), "mature": np.dtype(bool),
                                       "bad": np.dtype("float64")}


def test_maturity_summary_counts() -> None:
    apps, hist = frames()
    summary = maturity_summary(label_applications(apps, hist, AS_OF, 12))
    assert summary == {"applications": 10, "booked": 8, "mature": 6, "immature": 2,
                       "unobserved": 1, "labelled": 5, "bad": 3, "bad_rate": 3 / 5}


def test_an_earlier_cut_off_sees_fewer_mature_loans_and_no_later_bads() -> None:
    apps, hist = frames()
    labels = label_applications(apps, hist, T("2024-01-31"), 12)
    # B (window closes 2024-01-10) is mature; C (2024-02-01) and J are not yet.
    assert labels.loc["B_good", "mature"] and not labels.loc["C_bad", "mature"]
    assert maturity_summary(labels)["mature"] == 3  # B, F (no tape) and G (known label)


def test_window_length_is_configurable() -> None:
    apps, hist = frames(months=6)  # the history is read for the same window
    labels = label_applications(apps, hist, AS_OF, 6)
    assert labels.loc["C_bad", "bad"] == 0.0  # 90+ in month 8: outside a 6-month window
    assert labels.loc["E_immature", "mature"] and labels.loc["E_immature", "bad"] == 1.0


def test_month_end_origination_keeps_its_twelfth_month() -> None:
    """Originated 28 Feb 2023: months on book 1..12 end on 29 Feb 2024 (a leap year)."""
    apps = pd.DataFrame({"application_id": ["M"], "application_ts": [T("2023-02-28 11:00")]})
    hist = complete_history(pd.DataFrame({
        "loan_id": ["LM"], "application_id": ["M"], "dealer_id": ["D"],
        "origination_date": [T("2023-02-28")], "first_bad_month": [T("2024-02-29")],
        "last_tape_month": [T("2024-04-30")]}))
    assert not label_applications(apps, hist, T("2024-02-28"), 12).loc["M", "mature"]
    assert label_applications(apps, hist, T("2024-02-29"), 12).loc["M", "bad"] == 1.0


def test_bad_months_after_as_of_are_not_seen() -> None:
    apps, hist = frames()
    later = hist.copy()
    later.loc[later["application_id"] == "B_good", "first_bad_month"] = T("2024-08-31")
    assert label_applications(apps, later, AS_OF, 12).loc["B_good", "bad"] == 0.0


def test_refuses_two_loans_for_one_application() -> None:
    apps, hist = frames()
    with pytest.raises(FeatureInputError, match="B_good"):
        label_applications(apps, pd.concat([hist, hist.iloc[[0]]]), AS_OF, 12)


def test_summary_of_nothing_labelled_has_nan_bad_rate() -> None:
    labels = pd.DataFrame({"booked": [False], "mature": [False], "bad": [np.nan]})
    summary = maturity_summary(labels)
    assert summary["labelled"] == 0 and np.isnan(summary["bad_rate"])
