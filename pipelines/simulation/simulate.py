"""A seeded synthetic auto-loan book: applications, booked loans, a monthly repayment tape, and
the ground truth behind them (for tests and diagnostics only, never written to the warehouse).

Everything is vectorised (numpy/pandas); 1M applications take a few seconds. This module holds
the ground truth, booking, scenarios and assembly; the draws live in ``applicants`` (dealers,
calendar, applicant, vehicle, terms) and ``tape`` (outcomes, repayment tape), the shared streams
and helpers in ``draws``.

How one book is made
--------------------
1. Dealers: ``n_dealers`` dealers, each with a fixed region and channel, a Zipf-like volume and a
   latent quality effect on the log-odds of default (mostly ~0, about 7% clearly worse).
2. Applications: timestamps over [start, end] (more on weekdays, business hours), then applicant,
   bureau, vehicle and loan terms with the correlations an analyst expects (low bureau score goes
   with more delinquencies, higher utilisation, higher rate and more zero-down deals).
3. Booking: the historical policy books bureau_score >= 560, LTV <= 1.6, PTI <= 0.30 and
   DTI <= 0.60, then the applicant takes the loan with probability 0.85 (~75% booked).
4. Ground truth and outcomes (below), then a monthly tape per booked loan.

Ground truth (``ground_truth_logit``)
-------------------------------------
The 12-month PD of an application is ``true_pd = sigmoid(b + f(x) + dealer_effect + u)``: ``u ~
N(0, 1.5)`` is risk the application does not show (life events), ``b`` is found by bisection so
the mean true PD of the booked loans under scenario "none" equals ``default_rate``, and
``f(x) = sum(coefficient * term)`` with, for LTV = loan/price, PTI = payment/(income/12) and
DTI = (other debt + payment)/(income/12):

=====================  ====================================================  ===========
term                   definition                                             coefficient
=====================  ====================================================  ===========
score_gap              (690 - bureau_score) / 100                             +0.15
score_step             sigmoid((640 - bureau_score) / 25)                     +2
ltv_high               max(LTV - 1.10, 0)                                     +1.5
pti                    PTI - 0.10                                             +0.5
pti_high               max(PTI - 0.16, 0)                                     +4
dti                    DTI - 0.35                                             +0.6
utilisation            revolving_utilization - 0.4                            +0.35
utilisation_maxed      max(revolving_utilization - 0.9, 0)                    +2
inquiries              min(inquiries_6m, 10)                                  +0.05
delinquencies          min(delinquencies_2y, 5)                               +0.15
used                   vehicle_condition == "used"                            +0.1
vehicle_age            vehicle_age_years                                      +0.0175
term                   (term_months - 60) / 12                                +0.05
no_home_equity         housing in {rent, other}                               +0.075
log_income             ln(annual_income / 55,000)                             -0.175
log_employment         ln(1 + employment_years)                               -0.125
age                    (min(applicant_age, 75) - 40) / 10                     -0.06
down_share             down_payment / vehicle_price                           -0.75
ltv_x_used             max(LTV - 1, 0) * used                                 +6
pti_x_low_score        max(PTI - 0.10, 0) * max(620 - bureau_score, 0) / 100  +30
young_new_job          applicant_age < 25 and employment_years < 1            +0.8
dti_high               max(DTI - 0.45, 0)                                     +4
old_used               used and vehicle_age_years > 8                         +0.6
underwater_used        used and LTV > 1.05 and term_months >= 72              +1.8
thin_file_young        open_trades <= 1 and applicant_age < 28                +1.5
=====================  ====================================================  ===========

Every term is monotone in the direction a risk analyst expects; the interest rate is left out on
purpose (it is a policy output, not a cause). Most of the signal sits in steps, kinks and
segments (score_step, the *_high terms, used cars under water on long terms, thin-file young
applicants): real books look like that, and it is what a tree ensemble finds and a linear
scorecard on the raw ratios cannot. With u the signal is tuned so a gradient-boosted model on the
application columns reaches an out-of-time AUC of about 0.78-0.82, a few points above a logistic
baseline, not a leaky 0.95.

Outcomes per booked loan: ``bad_12m ~ Bernoulli(true_pd)``. A bad loan reaches 90+ at month on book
``m`` in 4..12 along ``1-30`` (m-3), ``31-60`` (m-2), ``61-90`` (m-1), ``90+`` (m, m+1) and
``charge-off`` (m+2, the last row). Good loans have occasional transient delinquencies that cure
(fewer once seasoned), prepay at ~1% a month, and carry a small hazard of defaulting after month 12
(0.3 * true_pd / 12 a month). Balances follow the annuity schedule, frozen at the last installment
paid while delinquent.

Scenarios start at ``scenario_start`` (default: midpoint of [start, end]). All random numbers are
drawn the same way for every scenario and only transformed afterwards, so applications before the
onset and tape rows before the onset month end are identical to scenario "none" for one seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.special import expit

from pipelines.simulation.applicants import (
    _applicants,
    _application_times,
    _applications,
    _make_dealers,
    _terms_draws,
    _vehicle_draws,
)
from pipelines.simulation.applicants import annuity_payment as annuity_payment
from pipelines.simulation.applicants import fraud_dealers as fraud_dealers
from pipelines.simulation.draws import Draws, _ids, _streams
from pipelines.simulation.tape import (
    _episodes,
    _first_month_end_index,
    _loan_events,
    _month_index,
    _outcome_draws,
    _tape,
)

SCENARIOS: dict[str, str] = {
    "none": "Stationary book: the population, the policy and the risk do not change over time.",
    "used_car_mix": (
        "Population shift from the onset: the used-vehicle share of new applications rises "
        "from ~35% to ~70%, used vehicles are older, down payments smaller and negative equity "
        "more common (higher LTV), and terms longer. Risk follows the same ground-truth "
        "function, so the realised bad rate rises only through the mix."),
    "income_shock": (
        "Macro shock from the onset: application features keep their distributions, but the "
        "log-odds of default rise (PD about x1.8) for applications after the onset, and loans "
        "already on the book get an extra default hazard from the onset month, so roll rates "
        "out of 1-30 rise within one or two month ends."),
    "dealer_fraud": (
        "From the onset, a ring of ~5% of dealers (all in the south region, see fraud_dealers) "
        "inflates vehicle prices by ~8% and sends applicants whose PD is about 4x what their "
        "application shows; every other dealer is unchanged."),
    "ranking_shift": (
        "Concept drift from the onset: for applications after it the bureau score's effect "
        "reverses (its terms x-1: scores inflated by payment holidays, the highest most) and "
        "payment and debt burden weigh more (PTI and DTI terms x4); the population is "
        "unchanged and the mean PD of booked loans is held where it was, so the ranking "
        "changes, not the level."),
}

_FRAUD_LOGIT = math.log(7.0)  # odds x7 is about PD x4 on a dispersed 6% book
_SHOCK_LOGIT = math.log(2.2)  # odds x2.2 is about PD x1.8 on a dispersed 6% book
_TAKE_UP = 0.83
# ranking_shift: the terms whose weight changes after the onset, and by how much
_RANKING_SHIFT: dict[str, float] = {
    "score_gap": -1.0, "score_step": -1.0, "pti_x_low_score": 0.0,
    "pti": 4.0, "pti_high": 4.0, "dti": 4.0, "dti_high": 4.0,
}
_TRUTH_COEF: dict[str, float] = {
    "score_gap": 0.15, "pti": 0.50, "dti": 0.6, "utilisation": 0.35,
    "inquiries": 0.05, "delinquencies": 0.15, "used": 0.1, "vehicle_age": 0.0175, "term": 0.05,
    "no_home_equity": 0.075, "log_income": -0.175, "log_employment": -0.125, "age": -0.06,
    "down_share": -0.75, "ltv_x_used": 6.00, "pti_x_low_score": 30.0,
    "score_step": 2.00, "ltv_high": 1.50, "pti_high": 4.00, "young_new_job": 0.80,
    "utilisation_maxed": 2.00, "dti_high": 4.00, "old_used": 0.60,
    "underwater_used": 1.80, "thin_file_young": 1.50,
}


@dataclass
class Book:
    """One simulated book. ``truth`` is for tests and diagnostics only: never write it to the
    warehouse, and never use its columns as features."""

    applications: pd.DataFrame  # columns exactly schema.APPLICATION_COLUMNS, sorted by time
    loans: pd.DataFrame  # booked applications only; loan_id = "L" + the application's digits
    repayments: pd.DataFrame  # schema.REPAYMENT_COLUMNS: one row per loan and month end
    truth: pd.DataFrame  # aligned with applications: application_id, true_pd, booked,
    #                      bad_12m (1.0/0.0, NaN if not booked), default_month (NaN if never)


# ---------------------------------------------------------------------------------------------
# Ground truth and booking
# ---------------------------------------------------------------------------------------------

def _risk_terms(apps: pd.DataFrame) -> dict[str, np.ndarray]:
    """The transformed inputs of the ground truth; see the table in the module docstring."""
    price = apps["vehicle_price"].to_numpy()
    monthly_income = apps["annual_income"].to_numpy() / 12
    payment = apps["monthly_payment"].to_numpy()
    score = apps["bureau_score"].to_numpy()
    ltv = apps["loan_amount"].to_numpy() / price
    pti = payment / monthly_income
    used = (apps["vehicle_condition"].to_numpy() == "used").astype(float)
    return {
        "score_gap": (690 - score) / 100, "ltv": ltv - 1,
        "pti": pti - 0.10,
        "dti": (apps["monthly_debt"].to_numpy() + payment) / monthly_income - 0.35,
        "utilisation": apps["revolving_utilization"].to_numpy() - 0.4,
        "inquiries": np.minimum(apps["inquiries_6m"].to_numpy(), 10),
        "delinquencies": np.minimum(apps["delinquencies_2y"].to_numpy(), 5),
        "used": used, "vehicle_age": apps["vehicle_age_years"].to_numpy(),
        "term": (apps["term_months"].to_numpy() - 60) / 12,
        "no_home_equity": apps["housing"].isin(["rent", "other"]).to_numpy().astype(float),
        "log_income": np.log(apps["annual_income"].to_numpy() / 55_000),
        "log_employment": np.log1p(apps["employment_years"].to_numpy()),
        "age": (np.minimum(apps["applicant_age"].to_numpy(), 75) - 40) / 10,
        "down_share": apps["down_payment"].to_numpy() / price,
        "ltv_x_used": np.maximum(ltv - 1, 0) * used,
        "pti_x_low_score": np.maximum(pti - 0.10, 0) * np.maximum(620 - score, 0) / 100,
        # Thresholds and kinks, as real books show them: a linear scorecard cannot draw these.
        "score_step": expit((640 - score) / 25),
        "ltv_high": np.maximum(ltv - 1.10, 0),
        "pti_high": np.maximum(pti - 0.16, 0),
        "young_new_job": ((apps["applicant_age"].to_numpy() < 25)
                          & (apps["employment_years"].to_numpy() < 1)).astype(float),
        "utilisation_maxed": np.maximum(apps["revolving_utilization"].to_numpy() - 0.9, 0),
        "dti_high": np.maximum((apps["monthly_debt"].to_numpy() + payment) / monthly_income
                               - 0.45, 0),
        "old_used": used * (apps["vehicle_age_years"].to_numpy() > 8),
        "underwater_used": used * (ltv > 1.05) * (apps["term_months"].to_numpy() >= 72),
        "thin_file_young": ((apps["open_trades"].to_numpy() <= 1)
                            & (apps["applicant_age"].to_numpy() < 28)).astype(float),
    }


def ground_truth_logit(apps: pd.DataFrame, dealer_effect: np.ndarray,
                       latent: np.ndarray | None = None, intercept: float = 0.0,
                       weights: dict[str, float] | None = None) -> np.ndarray:
    """Log-odds of reaching 90+ within 12 months on book: ``intercept + f(apps) + dealer_effect
    (+ latent)``, f as documented in the module docstring. ``dealer_effect`` and ``latent`` are
    per application (aligned with ``apps``); ``latent`` is risk the application does not show.
    ``weights`` multiply named coefficients (the ranking_shift scenario's)."""
    terms = _risk_terms(apps)
    logit = float(intercept) + np.asarray(dealer_effect, dtype=float)
    for name, coefficient in _TRUTH_COEF.items():
        logit += coefficient * (weights or {}).get(name, 1.0) * terms[name]
    return logit if latent is None else logit + latent


def _solve_intercept(logit: np.ndarray, target: float, iterations: int = 50) -> float:
    """Bisection on b so that mean(sigmoid(b + logit)) == target (the mean is monotone in b)."""
    lo, hi = -20.0, 20.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if expit(mid + logit).mean() > target:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _booked(apps: pd.DataFrame, take_u: np.ndarray) -> np.ndarray:
    """The historical policy: hard cut-offs, then the applicant takes the offer or walks away."""
    monthly_income = apps["annual_income"].to_numpy() / 12
    payment = apps["monthly_payment"].to_numpy()
    ltv = apps["loan_amount"].to_numpy() / apps["vehicle_price"].to_numpy()
    dti = (apps["monthly_debt"].to_numpy() + payment) / monthly_income
    eligible = ((apps["bureau_score"].to_numpy() >= 560) & (ltv <= 1.6)
                & (payment / monthly_income <= 0.30) & (dti <= 0.60))
    return eligible & (take_u < _TAKE_UP)


# ---------------------------------------------------------------------------------------------
# The book
# ---------------------------------------------------------------------------------------------

def _loans_frame(apps: pd.DataFrame, booked_idx: np.ndarray) -> pd.DataFrame:
    sub = apps.iloc[booked_idx]
    return pd.DataFrame({
        "loan_id": _ids("L", booked_idx, 9),
        "application_id": sub["application_id"].to_numpy(),
        "origination_date": sub["business_date"].to_numpy(),
        "dealer_id": sub["dealer_id"].to_numpy(),
        "loan_amount": sub["loan_amount"].to_numpy(),
        "term_months": sub["term_months"].to_numpy(),
        "interest_rate": sub["interest_rate"].to_numpy(),
        "monthly_payment": sub["monthly_payment"].to_numpy(),
    })


def _shock_start(loans: pd.DataFrame, onset: date, exposed: bool) -> np.ndarray:
    """Month on book at the first month end on/after the onset, for loans booked before it."""
    orig = loans["origination_date"].to_numpy().astype("datetime64[D]")
    start = _month_index(np.datetime64(onset, "D")) - _first_month_end_index(orig) + 1.0
    before = orig < np.datetime64(onset, "D")
    return np.where(before & exposed, start, np.nan)


def _scenario_shift(scenario: str, after: np.ndarray, fraud_app: np.ndarray) -> np.ndarray:
    """Log-odds added to the ground truth after the onset (the mix shift needs none: it moves
    the features and the same function prices them)."""
    if scenario == "income_shock":
        return after * _SHOCK_LOGIT
    if scenario == "dealer_fraud":
        return (after & fraud_app) * _FRAUD_LOGIT
    return np.zeros(len(after))


def _check(n_applications: int, start: date, end: date, default_rate: float, n_dealers: int,
           scenario: str) -> None:
    if n_applications < 1 or n_dealers < 1:
        raise ValueError("n_applications and n_dealers must be at least 1")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if not 0.0 < default_rate < 1.0:
        raise ValueError(f"default_rate must be in (0, 1), got {default_rate}")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")


def simulate_book(n_applications: int, start: date, end: date, *, seed: int = 42,
                  default_rate: float = 0.06, n_dealers: int = 300,
                  scenario: str = "none", scenario_start: date | None = None,
                  tape_end: date | None = None, thin_before: date | None = None,
                  thin_share: float = 1.0) -> Book:
    """Generate a book of ``n_applications`` applications over [start, end]; see the module
    docstring for the model and SCENARIOS for what each scenario moves. Applications before
    ``thin_before`` are kept with probability ``thin_share`` (a draw of its own), with their
    loans and tape: a long history at a lower volume, for a fraction of the cost (the loans and
    tape are built only for what is kept; loan ids are numbered among the kept)."""
    _check(n_applications, start, end, default_rate, n_dealers, scenario)
    onset = scenario_start or start + (end - start) / 2
    rng = _streams(seed)
    dealers = _make_dealers(rng["dealers"], n_dealers)
    ts = _application_times(rng["calendar"], n_applications, start, end)
    person = _applicants(rng["applicant"], n_applications, dealers)
    vdraws = _vehicle_draws(rng["vehicle"], n_applications)
    tdraws = _terms_draws(rng["terms"], n_applications)
    odraws = _outcome_draws(rng["outcome"], n_applications)
    app_ids = _ids("A", np.arange(n_applications), 9)
    after = ts >= np.datetime64(onset, "ns")
    fraud_app = dealers.fraud[person["dealer"]]
    dealer_effect = dealers.effect[person["dealer"]]
    no = np.zeros(n_applications, dtype=bool)

    # The intercept is always solved on the scenario-free book, so one seed has one intercept.
    apps = _applications(ts, app_ids, person, dealers, vdraws, tdraws, no, no)
    logit = ground_truth_logit(apps, dealer_effect, odraws["latent"])
    booked = _booked(apps, odraws["take_u"])
    intercept = _solve_intercept(logit[booked] if booked.any() else logit, default_rate)
    if scenario in ("used_car_mix", "dealer_fraud"):
        mix = after if scenario == "used_car_mix" else no
        inflate = after & fraud_app if scenario == "dealer_fraud" else no
        apps = _applications(ts, app_ids, person, dealers, vdraws, tdraws, mix, inflate)
        logit = ground_truth_logit(apps, dealer_effect, odraws["latent"])
        booked = _booked(apps, odraws["take_u"])
    true_pd = expit(logit + intercept + _scenario_shift(scenario, after, fraud_app))
    if scenario == "ranking_shift":
        true_pd = np.where(after, _shifted_pd(apps, dealer_effect, odraws["latent"], booked & after,
                                              float(true_pd[booked & after].mean())
                                              if (booked & after).any() else default_rate),
                           true_pd)
    keep = _kept(ts, thin_before, thin_share, seed)
    if not keep.all():
        apps, true_pd, booked = apps[keep].reset_index(drop=True), true_pd[keep], booked[keep]
        odraws = {k: v[keep] for k, v in odraws.items()}
    return _assemble(apps, true_pd, booked, odraws, scenario == "income_shock", onset,
                     tape_end or end)


def _shifted_pd(apps: pd.DataFrame, dealer_effect: np.ndarray, latent: np.ndarray,
                booked_after: np.ndarray, mean_pd: float) -> np.ndarray:
    """True PDs under the ranking_shift weights, the intercept solved so the booked loans after
    the onset keep ``mean_pd`` (what they had without the shift)."""
    logit = ground_truth_logit(apps, dealer_effect, latent, weights=_RANKING_SHIFT)
    base = logit[booked_after] if booked_after.any() else logit
    return expit(logit + _solve_intercept(base, mean_pd))


def _kept(ts: np.ndarray, before: date | None, share: float, seed: int) -> np.ndarray:
    if before is None or share >= 1.0:
        return np.ones(len(ts), dtype=bool)
    early = ts < np.datetime64(before, "ns")
    return ~early | (np.random.default_rng(seed + 7919).random(len(ts)) < share)


def _assemble(apps: pd.DataFrame, true_pd: np.ndarray, booked: np.ndarray, odraws: Draws,
              shocked: bool, onset: date, tape_end: date) -> Book:
    idx = np.flatnonzero(booked)
    loans = _loans_frame(apps, idx)
    loan_draws = {k: v[idx] for k, v in odraws.items()}
    events = _loan_events(loan_draws, true_pd[idx], loans["term_months"].to_numpy(),
                          _shock_start(loans, onset, shocked))
    repayments = _tape(loans, events, _episodes(loan_draws, true_pd[idx]), tape_end)
    default_month = np.full(len(apps), np.nan)
    default_month[idx] = events.default_month
    bad = np.full(len(apps), np.nan)
    bad[idx] = events.default_month <= 12  # NaN <= 12 is False: never defaulting is good
    truth = pd.DataFrame({"application_id": apps["application_id"].to_numpy(),
                          "true_pd": true_pd, "booked": booked, "bad_12m": bad,
                          "default_month": default_month})
    return Book(apps, loans, repayments, truth)
