"""The synthetic book: determinism, schema, plausible values, calibrated and monotone risk, a
consistent repayment tape, and scenarios that move only what they say, only after the onset."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.metrics import auc
from pipelines.simulation.simulate import (
    SCENARIOS,
    Book,
    annuity_payment,
    fraud_dealers,
    ground_truth_logit,
    simulate_book,
)
from pipelines.warehouse.schema import (
    APPLICATION_COLUMNS,
    CATEGORIES,
    DPD_BUCKETS,
    REPAYMENT_COLUMNS,
)

START, END, ONSET = date(2022, 1, 1), date(2024, 6, 30), date(2023, 7, 1)
LONG_TAPE = date(2025, 11, 15)  # not a month end on purpose: the last row is 2025-10-31
N, SEED = 60_000, 11
DTYPES = {"str": "object", "datetime": "datetime64[ns]", "date": "datetime64[ns]",
          "float": "float64", "int": "int64"}
LOAN_COLUMNS = ["loan_id", "application_id", "origination_date", "dealer_id", "loan_amount",
                "term_months", "interest_rate", "monthly_payment"]


@pytest.fixture(scope="module")
def book() -> Book:
    """A stationary book whose tape runs long enough for every loan booked to mature 12 months."""
    return simulate_book(N, START, END, seed=SEED, tape_end=LONG_TAPE)


@pytest.fixture(scope="module")
def scenario_books() -> dict[str, Book]:
    return {name: simulate_book(N, START, END, seed=SEED, scenario=name, scenario_start=ONSET)
            for name in SCENARIOS}


def _ratios(apps: pd.DataFrame) -> pd.DataFrame:
    monthly_income = apps["annual_income"] / 12
    return pd.DataFrame({
        "ltv": apps["loan_amount"] / apps["vehicle_price"],
        "pti": apps["monthly_payment"] / monthly_income,
        "dti": (apps["monthly_debt"] + apps["monthly_payment"]) / monthly_income,
    })


def _after(book: Book) -> pd.Series:
    return book.applications["application_ts"] >= pd.Timestamp(ONSET)


def _bad_rate(book: Book, mask: pd.Series) -> float:
    return float(book.truth.loc[mask & book.truth["booked"], "bad_12m"].mean())


def _roll_rate(tape: pd.DataFrame, months: pd.DatetimeIndex) -> float:
    """Share of loans in 1-30 at one of ``months`` that are in 31-60 at the next month end."""
    nxt = tape.groupby("loan_id")["dpd_bucket"].shift(-1)
    in_1_30 = (tape["dpd_bucket"] == "1-30") & tape["as_of_month"].isin(months)
    return float((nxt[in_1_30] == "31-60").mean())


# --- determinism ----------------------------------------------------------------------------

def test_same_seed_same_book_and_another_seed_another_book() -> None:
    one = simulate_book(20_000, START, END, seed=3, scenario="income_shock")
    two = simulate_book(20_000, START, END, seed=3, scenario="income_shock")
    for name in ("applications", "loans", "repayments", "truth"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name))
    other = simulate_book(20_000, START, END, seed=4, scenario="income_shock")
    assert not one.applications["bureau_score"].equals(other.applications["bureau_score"])
    assert not one.applications["application_ts"].equals(other.applications["application_ts"])


def test_a_tape_that_ends_before_the_first_month_end_is_empty_but_typed() -> None:
    small = simulate_book(500, date(2024, 1, 5), date(2024, 1, 20))
    assert len(small.loans) > 0 and small.repayments.empty
    assert list(small.repayments.columns) == list(REPAYMENT_COLUMNS)
    for name, kind in REPAYMENT_COLUMNS.items():
        assert str(small.repayments[name].dtype) == DTYPES[kind], name


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        simulate_book(100, START, END, scenario="meteor")
    with pytest.raises(ValueError, match="before start"):
        simulate_book(100, END, START)


# --- schema -----------------------------------------------------------------------------------

def test_application_columns_and_dtypes_follow_the_schema(book: Book) -> None:
    apps = book.applications
    assert list(apps.columns) == list(APPLICATION_COLUMNS)
    for name, kind in APPLICATION_COLUMNS.items():
        assert str(apps[name].dtype) == DTYPES[kind], name
    assert apps["application_id"].str.fullmatch(r"A\d{9}").all()
    assert apps["application_id"].is_unique
    assert apps["dealer_id"].str.fullmatch(r"D\d{4}").all()
    assert apps["application_ts"].is_monotonic_increasing
    assert (apps["business_date"] == apps["application_ts"].dt.normalize()).all()
    assert apps["application_ts"].min() >= pd.Timestamp(START)
    assert apps["application_ts"].max() < pd.Timestamp(END) + pd.Timedelta(days=1)


def test_loans_repayments_and_truth_frames(book: Book) -> None:
    apps, loans, tape, truth = book.applications, book.loans, book.repayments, book.truth
    assert list(loans.columns) == LOAN_COLUMNS
    assert loans["term_months"].dtype == "int64"
    assert str(loans["origination_date"].dtype) == "datetime64[ns]"
    booked = apps[truth["booked"].to_numpy()]
    assert loans["application_id"].tolist() == booked["application_id"].tolist()
    assert (loans["loan_id"].str[1:] == loans["application_id"].str[1:]).all()
    assert loans["loan_id"].str.startswith("L").all()
    assert list(tape.columns) == list(REPAYMENT_COLUMNS)
    for name, kind in REPAYMENT_COLUMNS.items():
        assert str(tape[name].dtype) == DTYPES[kind], name
    assert list(truth.columns) == ["application_id", "true_pd", "booked", "bad_12m",
                                   "default_month"]
    assert truth.index.equals(apps.index)
    assert (truth["application_id"] == apps["application_id"]).all()
    assert truth["booked"].dtype == bool
    assert truth.loc[~truth["booked"], ["bad_12m", "default_month"]].isna().all().all()
    assert truth.loc[truth["booked"], "bad_12m"].isin([0.0, 1.0]).all()


# --- realism ----------------------------------------------------------------------------------

def test_values_are_plausible(book: Book) -> None:
    apps, ratios = book.applications, _ratios(book.applications)
    assert apps["applicant_age"].between(18, 85).all()
    assert apps["applicant_age"].between(25, 60).mean() > 0.85
    assert 45_000 < apps["annual_income"].median() < 65_000
    assert (apps["employment_years"] <= apps["applicant_age"] - 18).all()
    assert apps["bureau_score"].between(300, 850).all()
    assert apps["bureau_score"].between(580, 800).mean() > 0.85
    assert apps["revolving_utilization"].between(0, 1.2).all()
    assert (apps[["inquiries_6m", "delinquencies_2y", "open_trades", "monthly_debt"]] >= 0).all().all()
    assert ratios["ltv"].between(0.5, 2.0).all() and ratios["ltv"].quantile(0.95) < 1.5
    assert ratios["pti"].between(0.03, 0.25).mean() > 0.85
    assert (apps["down_payment"] <= 0.3 * apps["vehicle_price"] + 1).all()
    assert set(apps["term_months"]) <= {36, 48, 60, 72, 84}
    assert apps["interest_rate"].between(0.019, 0.29).all()
    expected = annuity_payment(apps["loan_amount"], apps["interest_rate"], apps["term_months"])
    np.testing.assert_allclose(apps["monthly_payment"], expected, atol=0.01)
    for column, values in CATEGORIES.items():
        assert set(apps[column]) <= set(values), column


def test_vehicles_and_calendar_look_like_a_dealer_book(book: Book) -> None:
    apps = book.applications
    used = apps["vehicle_condition"] == "used"
    assert 0.30 < used.mean() < 0.40
    assert (apps.loc[~used, "vehicle_age_years"] == 0).all()
    assert apps.loc[used, "vehicle_age_years"].between(1, 12).all()
    assert apps.loc[~used, "vehicle_price"].quantile([0.05, 0.95]).between(15_000, 80_000).all()
    assert apps.loc[used, "vehicle_price"].quantile([0.05, 0.95]).between(4_000, 40_000).all()
    assert apps.groupby("vehicle_condition")["interest_rate"].mean()["used"] > \
        apps.groupby("vehicle_condition")["interest_rate"].mean()["new"]
    per_day = apps.groupby("business_date").size()
    weekday = per_day.index.dayofweek
    assert per_day[weekday < 5].mean() > 1.5 * per_day[weekday == 6].mean()
    assert apps["application_ts"].dt.hour.between(8, 21).all()
    per_dealer = apps["dealer_id"].value_counts()
    assert per_dealer.iloc[0] > 10 * per_dealer.median()  # Zipf-like volumes
    assert (apps.groupby("dealer_id")[["dealer_region", "dealer_channel"]].nunique() == 1).all().all()


def test_bureau_fields_correlate_the_way_analysts_expect(book: Book) -> None:
    apps = book.applications
    score = apps["bureau_score"]
    assert score.corr(apps["interest_rate"]) < -0.6
    assert score.corr(apps["revolving_utilization"]) < -0.4
    low = score < score.quantile(0.2)
    assert apps.loc[low, "delinquencies_2y"].mean() > 2 * apps.loc[~low, "delinquencies_2y"].mean()


def test_most_applications_are_booked_under_the_policy(book: Book) -> None:
    truth, ratios = book.truth, _ratios(book.applications)
    assert 0.70 < truth["booked"].mean() < 0.80
    booked = truth["booked"].to_numpy()
    assert (book.applications.loc[booked, "bureau_score"] >= 560).all()
    assert (ratios.loc[booked, "pti"] <= 0.30).all() and (ratios.loc[booked, "ltv"] <= 1.6).all()


# --- ground truth -----------------------------------------------------------------------------

@pytest.mark.parametrize("default_rate", [0.03, 0.06])
def test_mean_true_pd_of_booked_loans_is_the_target(default_rate: float) -> None:
    small = simulate_book(20_000, START, END, seed=5, default_rate=default_rate)
    booked = small.truth["booked"]
    assert small.truth.loc[booked, "true_pd"].mean() == pytest.approx(default_rate, rel=1e-6)


def test_realised_bad_rate_matches_default_rate(book: Book) -> None:
    bad = book.truth.loc[book.truth["booked"], "bad_12m"]
    # Four standard errors of a Bernoulli mean: about +-7% relative on ~46k loans.
    tolerance = 4 * math.sqrt(0.06 * 0.94 / len(bad))
    assert abs(bad.mean() - 0.06) < tolerance


def test_bad_rate_is_monotone_in_the_main_drivers(book: Book) -> None:
    apps, truth = book.applications, book.truth
    booked = truth["booked"].to_numpy()
    frame = _ratios(apps).assign(score=apps["bureau_score"], bad=truth["bad_12m"])[booked]
    for column, riskier_when_high in [("ltv", True), ("pti", True), ("score", False)]:
        by_quintile = frame.groupby(pd.qcut(frame[column], 5), observed=True)["bad"].mean()
        high, low = by_quintile.iloc[-1], by_quintile.iloc[0]
        assert (high > 1.3 * low) if riskier_when_high else (low > 2 * high), column


# Each move makes an application riskier (+1) or safer (-1) under the documented ground truth.
MOVES = {
    "higher LTV": (lambda a: a.assign(loan_amount=a["loan_amount"] * 1.1), 1),
    "higher PTI": (lambda a: a.assign(monthly_payment=a["monthly_payment"] * 1.1), 1),
    "more other debt": (lambda a: a.assign(monthly_debt=a["monthly_debt"] * 1.3 + 50), 1),
    "higher utilisation": (lambda a: a.assign(
        revolving_utilization=a["revolving_utilization"] + 0.1), 1),
    "more inquiries": (lambda a: a.assign(inquiries_6m=a["inquiries_6m"] + 1), 1),
    "older vehicle": (lambda a: a.assign(vehicle_age_years=a["vehicle_age_years"] + 1), 1),
    "used vehicle": (lambda a: a.assign(vehicle_condition="used"), 1),
    "longer term": (lambda a: a.assign(term_months=np.minimum(a["term_months"] + 12, 84)), 1),
    "higher score": (lambda a: a.assign(bureau_score=a["bureau_score"] + 30), -1),
    "higher income": (lambda a: a.assign(annual_income=a["annual_income"] * 1.2), -1),
    "longer employment": (lambda a: a.assign(employment_years=a["employment_years"] + 2), -1),
    "older applicant": (lambda a: a.assign(applicant_age=a["applicant_age"] + 5), -1),
    "more down": (lambda a: a.assign(down_payment=a["down_payment"] + 500), -1),
}


@pytest.mark.parametrize("move", sorted(MOVES))
def test_ground_truth_logit_moves_in_the_expected_direction(book: Book, move: str) -> None:
    apps = book.applications.iloc[:5_000]
    transform, direction = MOVES[move]
    no_dealer = np.zeros(len(apps))
    delta = (ground_truth_logit(transform(apps), no_dealer)
             - ground_truth_logit(apps, no_dealer)) * direction
    assert (delta >= -1e-12).all() and (delta > 0).mean() > 0.5, move


# --- repayment tape ---------------------------------------------------------------------------

def test_tape_rows_are_consecutive_month_ends_within_the_tape(book: Book) -> None:
    tape, loans = book.repayments, book.loans
    assert tape["as_of_month"].dt.is_month_end.all()
    assert (tape["as_of_month"] == tape["as_of_month"].dt.normalize()).all()
    assert tape["as_of_month"].max() == pd.Timestamp("2025-10-31")
    assert set(tape["dpd_bucket"]) <= set(DPD_BUCKETS)
    per_loan = tape.groupby("loan_id", sort=False)
    assert (per_loan["months_on_book"].diff().dropna() == 1).all()
    assert (per_loan["as_of_month"].diff().dropna().dt.days.between(28, 31)).all()
    first = per_loan.first()
    assert (first["months_on_book"] == 1).all()
    origination = loans.set_index("loan_id").loc[first.index, "origination_date"]
    # The first row is the first month end strictly after origination.
    assert (first["as_of_month"] > origination).all()
    assert ((first["as_of_month"] - origination).dt.days <= 31).all()


def test_tape_endings_and_balances_are_consistent(book: Book) -> None:
    tape = book.repayments
    per_loan = tape.groupby("loan_id", sort=False)
    last = per_loan.tail(1)
    assert (tape["status"] != "open").sum() == (last["status"] != "open").sum()
    assert (last.loc[last["status"] == "charged_off", "dpd_bucket"] == "charge-off").all()
    paid_off = last[last["status"] == "paid_off"]
    assert (paid_off["dpd_bucket"] == "current").all() and (paid_off["balance"] == 0).all()
    assert (tape.loc[tape["dpd_bucket"] == "charge-off", "status"] == "charged_off").all()
    assert (per_loan["balance"].diff().dropna() <= 0.01).all()
    amounts = book.loans.set_index("loan_id")["loan_amount"]
    assert (per_loan["balance"].first() <= amounts.loc[per_loan["balance"].first().index]).all()


def test_bad_loans_reach_90_plus_by_month_12_on_the_tape(book: Book) -> None:
    tape, truth = book.repayments, book.truth
    bad_apps = truth.loc[truth["bad_12m"] == 1, "application_id"]
    bad_loans = set("L" + bad_apps.str[1:])
    hit = tape[(tape["months_on_book"] <= 12) & tape["dpd_bucket"].isin(["90+", "charge-off"])]
    assert set(hit["loan_id"]) == bad_loans
    first_90 = tape[tape["dpd_bucket"] == "90+"].groupby("loan_id")["months_on_book"].min()
    default_month = truth.set_index("L" + truth["application_id"].str[1:])["default_month"]
    assert (first_90 == default_month.loc[first_90.index]).all()
    # Roll rates exist beyond year one too: some good loans default later.
    assert (truth["default_month"] > 12).sum() > 0


def test_roll_rates_and_vintages_are_stable_without_a_scenario(book: Book) -> None:
    months = pd.date_range("2022-07-31", "2024-06-30", freq="ME")
    early, late = _roll_rate(book.repayments, months[:12]), _roll_rate(book.repayments, months[12:])
    assert 0.2 < early < 0.5 and abs(early - late) < 0.06


# --- scenarios --------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["used_car_mix", "income_shock", "dealer_fraud",
                                      "ranking_shift"])
def test_nothing_differs_before_the_onset(scenario_books: dict[str, Book], scenario: str) -> None:
    base, moved = scenario_books["none"], scenario_books[scenario]
    before = ~_after(base)
    pd.testing.assert_frame_equal(moved.applications[before], base.applications[before])
    columns = ["application_id", "true_pd", "booked"]
    pd.testing.assert_frame_equal(moved.truth.loc[before, columns], base.truth.loc[before, columns])
    cutoff = pd.Timestamp(ONSET)
    pd.testing.assert_frame_equal(
        moved.repayments[moved.repayments["as_of_month"] < cutoff].reset_index(drop=True),
        base.repayments[base.repayments["as_of_month"] < cutoff].reset_index(drop=True))
    after = _after(base)
    assert not moved.truth.loc[after, "true_pd"].equals(base.truth.loc[after, "true_pd"])


def test_used_car_mix_shifts_the_population(scenario_books: dict[str, Book]) -> None:
    mix = scenario_books["used_car_mix"]
    apps, after = mix.applications, _after(mix)
    used = apps["vehicle_condition"] == "used"
    assert 0.30 < used[~after].mean() < 0.40 and 0.62 < used[after].mean() < 0.78
    assert apps.loc[after & used, "vehicle_age_years"].mean() > \
        apps.loc[~after & used, "vehicle_age_years"].mean() + 1
    ltv = _ratios(apps)["ltv"]
    assert ltv[after].mean() > ltv[~after].mean() + 0.03
    assert apps.loc[after, "term_months"].mean() > apps.loc[~after, "term_months"].mean() + 2
    base = scenario_books["none"]
    assert _bad_rate(mix, after) > _bad_rate(base, after)


def test_income_shock_moves_outcomes_not_features(scenario_books: dict[str, Book]) -> None:
    shock, base = scenario_books["income_shock"], scenario_books["none"]
    apps, after = shock.applications, _after(shock)
    numeric = [c for c, kind in APPLICATION_COLUMNS.items() if kind in ("float", "int")]
    means_before, means_after = apps.loc[~after, numeric].mean(), apps.loc[after, numeric].mean()
    assert ((means_after / means_before - 1).abs() < 0.03).all()
    pd.testing.assert_frame_equal(apps, base.applications)
    assert _bad_rate(shock, after) > 1.5 * _bad_rate(base, after)
    months = pd.date_range(end="2023-06-30", periods=6, freq="ME")
    shocked = pd.date_range(start="2023-07-31", periods=3, freq="ME")
    assert _roll_rate(shock.repayments, shocked) > 1.2 * _roll_rate(shock.repayments, months)
    assert _roll_rate(base.repayments, shocked) < 1.2 * _roll_rate(base.repayments, months)
    # The book already on the books at the onset goes bad more often too.
    before = ~after & shock.truth["booked"]
    assert shock.truth.loc[before, "bad_12m"].sum() > base.truth.loc[before, "bad_12m"].sum()


def test_ranking_shift_moves_the_ranking_not_the_level(scenario_books: dict[str, Book]) -> None:
    shift, base = scenario_books["ranking_shift"], scenario_books["none"]
    after = _after(shift)
    pd.testing.assert_frame_equal(shift.applications, base.applications)
    booked = after & shift.truth["booked"]
    old, new = base.truth.loc[booked, "true_pd"], shift.truth.loc[booked, "true_pd"]
    assert new.mean() == pytest.approx(old.mean(), rel=1e-6)  # the level is held
    # the old risk function ranks the new outcomes far worse than the new one does
    bad = shift.truth.loc[booked, "bad_12m"].to_numpy()
    assert auc(bad, old.to_numpy()) < auc(bad, new.to_numpy()) - 0.05  # 0.83 vs 0.90 here
    score = shift.applications.loc[booked, "bureau_score"]
    assert np.corrcoef(score, new)[0, 1] > 0 > np.corrcoef(score, old)[0, 1]  # reversed


def test_fraud_ring_is_five_percent_of_dealers_in_one_region() -> None:
    ring = fraud_dealers(300, SEED)
    assert len(ring) == 15 and ring == fraud_dealers(300, SEED)
    apps = simulate_book(5_000, START, END, seed=SEED).applications
    assert apps.loc[apps["dealer_id"].isin(ring), "dealer_region"].nunique() == 1


def test_dealer_fraud_hits_only_the_ring_after_the_onset(scenario_books: dict[str, Book]) -> None:
    fraud, base = scenario_books["dealer_fraud"], scenario_books["none"]
    after = _after(fraud)
    ring = fraud.applications["dealer_id"].isin(fraud_dealers(300, SEED))
    assert _bad_rate(fraud, ring & after) > 2.5 * _bad_rate(fraud, ring & ~after)
    others = ~ring
    pd.testing.assert_frame_equal(fraud.applications[others], base.applications[others])
    pd.testing.assert_frame_equal(fraud.truth[others], base.truth[others])
    inflation = (fraud.applications.loc[ring & after, "vehicle_price"]
                 / base.applications.loc[ring & after, "vehicle_price"])
    assert inflation.between(1.07, 1.09).all()


def test_thinned_history_is_the_full_book_minus_dropped_applications() -> None:
    cut = date(2023, 7, 1)
    full = simulate_book(6_000, date(2022, 1, 1), date(2023, 12, 31), seed=3)
    thin = simulate_book(6_000, date(2022, 1, 1), date(2023, 12, 31), seed=3,
                         thin_before=cut, thin_share=0.25)
    before = full.applications["business_date"] < pd.Timestamp(cut)
    kept = full.applications["application_id"].isin(thin.applications["application_id"])
    assert kept[~before].all()  # every application from the cut on
    assert 0.2 < kept[before].mean() < 0.3
    pd.testing.assert_frame_equal(full.applications[kept].reset_index(drop=True),
                                  thin.applications)
    pd.testing.assert_frame_equal(full.truth[kept.to_numpy()].reset_index(drop=True),
                                  thin.truth)
    same = ["application_id", "origination_date", "loan_amount", "term_months"]
    full_loans = full.loans[full.loans["application_id"].isin(thin.applications[
        "application_id"])]
    pd.testing.assert_frame_equal(full_loans[same].reset_index(drop=True), thin.loans[same])
    # each kept loan has the same tape as in the full book (loan ids are numbered afresh)
    ids = dict(zip(thin.loans["loan_id"], full_loans["loan_id"], strict=True))
    tape = thin.repayments.assign(loan_id=thin.repayments["loan_id"].map(ids))
    full_tape = full.repayments[full.repayments["loan_id"].isin(set(ids.values()))]
    keys = ["loan_id", "as_of_month"]
    pd.testing.assert_frame_equal(tape.sort_values(keys, ignore_index=True),
                                  full_tape.sort_values(keys, ignore_index=True))
