"""build_features on small hand-made frames: values, missing data, the leakage guard, dealer
history from matured loans only, and point-in-time invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import (
    FeatureConfig,
    FeatureInputError,
    LeakageError,
    build_features,
    feature_specs,
)
from features.build import window_end
from pipelines.core.stage_settings import FeatureSettings
from tests.histories import complete_history

T = pd.Timestamp
DENYLIST = tuple(FeatureSettings().leakage_denylist)


def apps_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["application_ts"] = pd.to_datetime(df["application_ts"])
    return df


def history_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (loan_id, dealer_id, origination_date, first_bad_month, last_tape_month)."""
    df = pd.DataFrame(rows, columns=["loan_id", "dealer_id", "origination_date",
                                     "first_bad_month", "last_tape_month"])
    df["application_id"] = "X" + df["loan_id"]
    return complete_history(df)


NO_HISTORY = history_frame([])
RATE = ("rate_spread",)  # a policy output, built here only because explicitly allowed
WITH_RATE = {"config": FeatureConfig(allowed_policy_outputs=RATE),
             "specs": feature_specs(allowed_policy_outputs=RATE)}


# ---------------------------------------------------------------------------------------------
# per-application values


def test_ratio_features_are_the_documented_arithmetic() -> None:
    apps = apps_frame([{"application_id": "A1", "application_ts": "2024-01-02 09:00",
                        "loan_amount": 22_000.0, "vehicle_price": 20_000.0,
                        "monthly_payment": 450.0, "annual_income": 54_000.0,
                        "monthly_debt": 900.0, "down_payment": 1_000.0, "term_months": 66,
                        "interest_rate": 0.081, "vehicle_condition": "new"}])
    out = build_features(apps, NO_HISTORY, T("2024-01-31"), **WITH_RATE)
    row = out.loc["A1"]
    assert row["ltv"] == 22_000.0 / 20_000.0
    assert row["pti"] == 450.0 / (54_000.0 / 12)
    assert row["dti"] == (900.0 + 450.0) / (54_000.0 / 12)
    assert row["down_payment_share"] == 1_000.0 / 20_000.0
    assert row["rate_spread"] == pytest.approx(0.081 - 0.050, abs=1e-15)  # 66 m: between knots
    assert row["log_vehicle_price"] == np.log(20_000.0)
    assert row["is_used"] == 0.0 and row["term_months"] == 66.0


def test_rate_benchmark_clamps_outside_the_known_terms() -> None:
    apps = apps_frame([{"application_id": "S", "application_ts": "2024-01-02",
                        "term_months": 24, "interest_rate": 0.06},
                       {"application_id": "L", "application_ts": "2024-01-02",
                        "term_months": 96, "interest_rate": 0.06}])
    out = build_features(apps, NO_HISTORY, T("2024-01-31"), **WITH_RATE)
    assert out["rate_spread"].tolist() == [0.06 - 0.045, 0.06 - 0.053]


def test_undefined_ratios_and_missing_columns_are_nan_not_errors() -> None:
    apps = apps_frame([{"application_id": "Z", "application_ts": "2024-01-02",
                        "loan_amount": 10_000.0, "vehicle_price": 0.0, "annual_income": -5.0,
                        "monthly_payment": 300.0, "vehicle_condition": "salvage"}])
    out = build_features(apps, NO_HISTORY, T("2024-01-31"))
    for name in ("ltv", "pti", "dti", "down_payment_share", "log_vehicle_price",
                 "log_annual_income", "is_used", "bureau_score", "dealer_bad_rate"):
        assert np.isnan(out.loc["Z", name]), name
    assert np.isinf(out.select_dtypes("float")).sum().sum() == 0


def test_byo_tape_with_only_id_and_timestamp_builds_all_missing() -> None:
    apps = apps_frame([{"application_id": "B1", "application_ts": "2024-03-01"},
                       {"application_id": "B2", "application_ts": "2024-03-02"}])
    out = build_features(apps, NO_HISTORY, T("2024-03-31"))
    assert list(out.columns) == [s.name for s in feature_specs()]
    assert out.isna().all().all()
    for spec in feature_specs():
        if spec.dtype == "category":
            assert list(out[spec.name].cat.categories) == list(spec.categories)
        else:
            assert out[spec.name].dtype == np.float64


def test_index_is_application_id_in_input_order_and_dtypes_are_fixed() -> None:
    apps = apps_frame([{"application_id": i, "application_ts": ts, "housing": h}
                       for i, ts, h in (("C", "2024-01-03", "rent"), ("A", "2024-01-01", "castle"),
                                        ("B", "2024-01-02", "own"))])
    out = build_features(apps, NO_HISTORY, T("2024-01-31"))
    assert out.index.name == "application_id" and list(out.index) == ["C", "A", "B"]
    assert list(out["housing"].cat.categories) == ["own", "mortgage", "rent", "other"]
    assert out["housing"].tolist()[0] == "rent" and pd.isna(out["housing"].iloc[1])


@pytest.mark.parametrize("bad, message", [
    ({"application_id": ["A", "A"]}, "occurs more than once"),
    ({"application_id": ["A", None]}, "without application_id"),
    ({"application_ts": [T("2024-01-01"), pd.NaT]}, "application_ts missing for"),
])
def test_unusable_applications_are_refused(bad: dict, message: str) -> None:
    apps = pd.DataFrame({"application_id": ["A", "B"],
                         "application_ts": [T("2024-01-01"), T("2024-01-02")]} | bad)
    with pytest.raises(FeatureInputError, match=message):
        build_features(apps, NO_HISTORY, T("2024-01-31"))


@pytest.mark.parametrize("as_of", [None, pd.NaT, T("2024-01-31", tz="UTC")])
def test_as_of_must_be_a_naive_timestamp(as_of: object) -> None:
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-01-01"}])
    with pytest.raises(FeatureInputError, match="as_of"):
        build_features(apps, NO_HISTORY, as_of)


def test_history_without_its_columns_is_refused() -> None:
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-01-01"}])
    with pytest.raises(FeatureInputError, match="first_bad_month"):
        build_features(apps, NO_HISTORY.drop(columns=["first_bad_month"]), T("2024-01-31"))


# ---------------------------------------------------------------------------------------------
# leakage guard


@pytest.mark.parametrize("column", DENYLIST)
def test_denylisted_column_in_applications_is_refused(column: str) -> None:
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-01-01", column: 1.0}])
    with pytest.raises(LeakageError, match=column):
        build_features(apps, NO_HISTORY, T("2024-01-31"), FeatureConfig(leakage_denylist=DENYLIST))


@pytest.mark.parametrize("column", DENYLIST)
def test_feature_declared_on_a_denylisted_field_is_refused(column: str) -> None:
    """A bring-your-own mapping declaring a post-origination field as an extra feature."""
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-01-01"}])
    with pytest.raises(LeakageError, match=f"{column} <- {column}"):
        build_features(apps, NO_HISTORY, T("2024-01-31"), FeatureConfig(leakage_denylist=DENYLIST),
                       specs=feature_specs(extra_numeric=[column]))


def test_denylist_matching_ignores_case_and_names_every_column() -> None:
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-01-01",
                        "Current_Balance": 1.0, "RECOVERIES": 0.0}])
    with pytest.raises(LeakageError, match="Current_Balance, RECOVERIES"):
        build_features(apps, NO_HISTORY, T("2024-01-31"), FeatureConfig(leakage_denylist=DENYLIST))


def test_a_policy_output_feature_is_refused_as_a_model_input_unless_allowed() -> None:
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-01-01",
                        "interest_rate": 0.07, "term_months": 60}])
    with pytest.raises(LeakageError, match="rate_spread are policy outputs"):
        build_features(apps, NO_HISTORY, T("2024-01-31"), FeatureConfig(leakage_denylist=DENYLIST),
                       specs=feature_specs(allowed_policy_outputs=RATE))
    out = build_features(apps, NO_HISTORY, T("2024-01-31"), **WITH_RATE)
    assert out.loc["A", "rate_spread"] == pytest.approx(0.07 - 0.049)


def test_dealer_experience_counts_only_the_recent_months() -> None:
    """Three loans matured 13, 11 and 1 months before the application: the 12-month count
    is 2, and a 24-month window counts all three."""
    hist = history_frame([(f"L{i}", "D1", orig, None, "2024-06-30")
                          for i, orig in enumerate(["2022-05-15", "2022-07-15", "2023-05-15"])])
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-06-15",
                        "dealer_id": "D1"}])
    recent = build_features(apps, hist, T("2024-06-30"))
    assert recent.loc["A", "dealer_matured_loans_12m"] == 2.0
    wide = build_features(apps, hist, T("2024-06-30"), FeatureConfig(dealer_recent_months=24))
    assert wide.loc["A", "dealer_matured_loans_12m"] == 3.0
    capped = build_features(apps, hist, T("2024-06-30"),
                            FeatureConfig(dealer_recent_months=24, dealer_recent_cap=2.0))
    assert capped.loc["A", "dealer_matured_loans_12m"] == 2.0
    # a year back, 28 Feb 23:00 comes after 29 Feb 09:00: both are counted from their own cut
    leap = apps_frame([{"application_id": "B", "application_ts": "2024-02-28 23:00",
                        "dealer_id": "D1"},
                       {"application_id": "C", "application_ts": "2024-02-29 09:00",
                        "dealer_id": "D1"}])
    out = build_features(leap, hist, T("2024-06-30"))
    assert out["dealer_matured_loans_12m"].tolist() == [2.0, 2.0]


def test_built_in_features_pass_the_default_denylist() -> None:
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-01-01"}])
    out = build_features(apps, NO_HISTORY, T("2024-01-31"), FeatureConfig(leakage_denylist=DENYLIST))
    assert len(out) == 1


# ---------------------------------------------------------------------------------------------
# dealer history


def test_window_end_rolls_month_end_originations_to_the_month_end() -> None:
    orig = pd.Series(pd.to_datetime(["2023-01-15", "2023-01-31", "2023-02-28", "2024-02-29",
                                     "2023-04-30", "2023-03-30"]))
    assert window_end(orig, 12).dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-15", "2024-01-31", "2024-02-29", "2025-02-28", "2024-04-30", "2024-03-30"]


def test_dealer_with_only_immature_loans_gets_exactly_the_prior() -> None:
    cfg = FeatureConfig(dealer_prior_strength=10.0, base_rate=0.05)
    # D1's loans are all younger than 12 months at the application, one already bad.
    hist = history_frame([("L1", "D1", "2023-09-01", "2024-01-31", "2024-03-31"),
                          ("L2", "D1", "2023-11-15", None, "2024-03-31")])
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-04-01 10:00",
                        "dealer_id": "D1"}])
    out = build_features(apps, hist, T("2024-04-30"), cfg)
    assert out.loc["A", "dealer_matured_loans_12m"] == 0.0
    assert out.loc["A", "dealer_bad_rate"] == 0.05  # no matured loan anywhere: base_rate
    # Matured loans of another dealer move the portfolio prior, and D1 gets exactly that.
    hist2 = pd.concat([hist, history_frame([("L3", "D2", "2022-01-10", "2022-06-30",
                                             "2022-08-31")])], ignore_index=True)
    out2 = build_features(apps, hist2, T("2024-04-30"), cfg)
    assert out2.loc["A", "dealer_matured_loans_12m"] == 0.0
    assert out2.loc["A", "dealer_bad_rate"] == (1.0 + 10.0 * 0.05) / (1 + 10.0)


def test_hand_computed_smoothed_dealer_rate() -> None:
    cfg = FeatureConfig(dealer_prior_strength=10.0, base_rate=0.05)
    t = "2024-03-15 12:00"
    hist = history_frame([
        ("L1", "D1", "2022-05-10", None, "2023-05-31"),  # matured, good
        ("L2", "D1", "2022-07-01", "2022-12-31", "2023-02-28"),  # matured, bad in window
        ("L3", "D1", "2022-08-20", "2023-10-31", "2024-02-29"),  # bad after its window: good
        ("L4", "D1", "2023-03-15", None, "2024-02-29"),  # matures exactly at 2024-03-15 00:00
        ("L5", "D1", "2023-03-16", "2023-09-30", "2024-02-29"),  # matures a day late: excluded
        ("L6", "D1", "2022-01-05", None, None),  # no tape row at all: unobserved, excluded
        ("L7", "D2", "2021-06-01", "2021-12-31", "2022-02-28"),  # other dealer, bad
        ("L8", None, "2021-07-01", None, "2022-07-31"),  # no dealer: portfolio only, good
    ])
    apps = apps_frame([{"application_id": "A", "application_ts": t, "dealer_id": "D1"},
                       {"application_id": "N", "application_ts": t, "dealer_id": None}])
    out = build_features(apps, hist, T("2024-03-31"), cfg)
    prior = (2.0 + 10.0 * 0.05) / (6 + 10.0)  # matured and observed: L1-L4, L7, L8; bad L2, L7
    assert out.loc["A", "dealer_matured_loans_12m"] == 4.0
    assert out.loc["A", "dealer_bad_rate"] == pytest.approx((1.0 + 10.0 * prior) / (4 + 10.0),
                                                            rel=1e-15)
    assert np.isnan(out.loc["N", "dealer_bad_rate"]) and np.isnan(out.loc["N",
                                                                          "dealer_matured_loans_12m"])


def test_facts_after_as_of_are_ignored() -> None:
    """A bad month dated after as_of is not yet known, even for a matured loan."""
    cfg = FeatureConfig(dealer_prior_strength=10.0, base_rate=0.05)
    hist = history_frame([("L1", "D1", "2023-01-10", "2024-01-31", "2024-01-31")])
    # The application is time-stamped after as_of: it sees history as of as_of only.
    apps = apps_frame([{"application_id": "A", "application_ts": "2024-02-10",
                        "dealer_id": "D1"}])
    early = build_features(apps, hist, T("2024-01-09"), cfg)
    assert early.loc["A", "dealer_matured_loans_12m"] == 0.0
    late = build_features(apps, hist, T("2024-02-10"), cfg)
    assert late.loc["A", "dealer_matured_loans_12m"] == 1.0


# ---------------------------------------------------------------------------------------------
# point in time: a brute-force reference and appended future rows


def random_world(seed: int, n_apps: int = 150, n_loans: int = 300) -> tuple[pd.DataFrame,
                                                                            pd.DataFrame]:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2021-01-01", "2024-12-31", freq="D")
    month_ends = pd.date_range("2021-01-31", "2025-12-31", freq="ME")
    orig = days[rng.integers(0, len(days) - 400, n_loans)]
    bad = rng.random(n_loans) < 0.3
    mob = rng.integers(1, 20, n_loans)
    first_me = np.searchsorted(month_ends, orig, side="right")
    first_bad = np.where(bad, month_ends[np.minimum(first_me + mob - 1, len(month_ends) - 1)],
                         pd.NaT)
    last = month_ends[np.minimum(first_me + mob + 1, len(month_ends) - 1)]
    hist = history_frame([(f"L{i:03d}", f"D{rng.integers(0, 4)}", orig[i], first_bad[i],
                           None if rng.random() < 0.05 else last[i]) for i in range(n_loans)])
    # half the good loans' tapes end on a payoff row; the others just stop (unobserved if early)
    paid_off = ~bad & (rng.random(n_loans) < 0.5)
    hist["closed_month"] = hist["last_tape_month"].where(paid_off)
    hist = complete_history(hist)
    apps = apps_frame([{"application_id": f"A{i:03d}",
                        "application_ts": days[rng.integers(300, len(days))]
                        + pd.Timedelta(hours=int(rng.integers(0, 24))),
                        "dealer_id": f"D{rng.integers(0, 5)}"} for i in range(n_apps)])
    return apps, hist


def reference_dealer(apps: pd.DataFrame, hist: pd.DataFrame, as_of: pd.Timestamp,
                     cfg: FeatureConfig) -> pd.DataFrame:
    """One application at a time, straight from the definition (slow, obviously right)."""
    rows = []
    for app in apps.itertuples():
        t = min(app.application_ts, as_of)
        end = window_end(hist["origination_date"], cfg.performance_window_months)
        last_month_end = end.dt.normalize() - pd.offsets.MonthEnd(0)
        last_month_end = last_month_end.where(last_month_end <= end,
                                              last_month_end - pd.offsets.MonthEnd(1))
        bad = hist["first_bad_month"] <= end
        good = ~bad & ((hist["closed_month"] <= end)
                       | (hist["last_tape_month"] >= last_month_end))
        decisive = pd.concat([hist["first_bad_month"], hist["closed_month"], last_month_end],
                             axis=1).min(axis=1)
        reached = decisive <= hist["last_tape_month"].max()  # every tape month known on its date
        known = (end <= t) & (bad | good) & reached
        k = cfg.dealer_prior_strength
        prior = (float(bad[known].sum()) + k * cfg.base_rate) / (int(known.sum()) + k)
        mine = known & (hist["dealer_id"] == app.dealer_id)
        n, b = int(mine.sum()), float(bad[mine].sum())
        recent = int((mine & (end > t - pd.DateOffset(months=cfg.dealer_recent_months))).sum())
        rows.append({"dealer_bad_rate": (b + k * prior) / (n + k),
                     "dealer_matured_loans_12m": recent})
    return pd.DataFrame(rows, index=pd.Index(apps["application_id"], name="application_id"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dealer_history_matches_a_brute_force_reference(seed: int) -> None:
    apps, hist = random_world(seed)
    cfg = FeatureConfig(dealer_prior_strength=7.0, base_rate=0.04)
    as_of = T("2024-06-30")
    out = build_features(apps, hist, as_of, cfg)
    ref = reference_dealer(apps, hist, as_of, cfg)
    assert (ref["dealer_matured_loans_12m"] > 0).mean() > 0.5  # the case is not trivially empty
    np.testing.assert_array_equal(out["dealer_matured_loans_12m"],
                                  ref["dealer_matured_loans_12m"])
    np.testing.assert_allclose(out["dealer_bad_rate"], ref["dealer_bad_rate"], rtol=1e-13)


def test_reusing_a_history_frame_gives_what_a_fresh_copy_gives() -> None:
    """The history tables are kept for the last frame seen (a daily run reuses one shared frame
    per tape month); other applications and another as_of on the same frame must read exactly
    what a cold build reads."""
    apps, hist = random_world(5)
    cfg = FeatureConfig(dealer_prior_strength=7.0, base_rate=0.04)
    for as_of, part in ((T("2024-06-30"), apps), (T("2023-03-31"), apps.iloc[::2]),
                        (T("2024-12-31"), apps.iloc[1::3])):
        warm = build_features(part, hist, as_of, cfg)
        cold = build_features(part, hist.copy(), as_of, cfg)
        pd.testing.assert_frame_equal(warm, cold, check_exact=True)
        ref = reference_dealer(part, hist, as_of, cfg)
        np.testing.assert_array_equal(warm["dealer_matured_loans_12m"],
                                      ref["dealer_matured_loans_12m"])
    other = hist.iloc[: len(hist) // 2]  # a different frame is not served the last one's tables
    np.testing.assert_array_equal(
        build_features(apps, other, T("2024-06-30"), cfg)["dealer_matured_loans_12m"],
        reference_dealer(apps, other, T("2024-06-30"), cfg)["dealer_matured_loans_12m"])


def test_appending_future_rows_does_not_change_any_feature() -> None:
    apps, hist = random_world(11)
    as_of = T("2023-06-30 23:59:59")
    past_apps = apps[apps["application_ts"] <= as_of]
    # History as a warehouse would have shown it at as_of.
    past = hist[hist["origination_date"] <= as_of].copy()
    past["first_bad_month"] = past["first_bad_month"].where(past["first_bad_month"] <= as_of)
    late_tape = past["last_tape_month"] > as_of
    past.loc[late_tape, "last_tape_month"] = T("2023-06-30")  # the month end before as_of
    before = build_features(past_apps, past, as_of)
    # Later applications, later loans and later tape months all arrive; nothing earlier changes.
    after = build_features(apps, hist, as_of)
    assert len(apps) > len(past_apps) and len(hist) > len(past)
    assert past["first_bad_month"].count() < hist.loc[past.index, "first_bad_month"].count()
    assert (before["dealer_matured_loans_12m"] > 0).any()
    pd.testing.assert_frame_equal(before, after.loc[before.index], check_exact=True)


def test_each_application_alone_at_its_own_timestamp_matches_the_batch() -> None:
    """The scoring path (one application, as_of = its own time) equals the training path."""
    apps, hist = random_world(5, n_apps=40)
    batch = build_features(apps, hist, T("2025-12-31"))
    for app in apps.itertuples():
        alone = build_features(apps[apps["application_id"] == app.application_id], hist,
                               app.application_ts)
        pd.testing.assert_frame_equal(alone, batch.loc[[app.application_id]], check_exact=True)


def test_row_order_of_the_applications_does_not_matter() -> None:
    apps, hist = random_world(8)
    out = build_features(apps, hist, T("2024-12-31"))
    shuffled = apps.sample(frac=1.0, random_state=3)
    again = build_features(shuffled, hist.sample(frac=1.0, random_state=4), T("2024-12-31"))
    pd.testing.assert_frame_equal(again.loc[out.index], out, check_exact=True)
