"""A seeded synthetic auto-loan book: applications, booked loans, a monthly repayment tape, and
the ground truth behind them (for tests and diagnostics only, never written to the warehouse).

Everything is vectorised (numpy/pandas); 1M applications take a few seconds.

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

from pipelines.warehouse.schema import APPLICATION_COLUMNS, CATEGORIES, DPD_BUCKETS, LOAN_STATUSES

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
}

_STREAMS = ("dealers", "calendar", "applicant", "vehicle", "terms", "outcome")
_REGION_P = np.array([0.20, 0.22, 0.20, 0.22, 0.16])
_CHANNEL_P = np.array([0.50, 0.38, 0.12])  # franchise, independent, online
_CHANNEL_EFFECT = np.array([0.0, 0.10, 0.05])
_ZIPF_EXPONENT = 0.8
_FRAUD_REGION = "south"
_FRAUD_SHARE = 0.05
_FRAUD_LOGIT = math.log(7.0)  # odds x7 is about PD x4 on a dispersed 6% book
_FRAUD_PRICE_INFLATION = 1.08
_SHOCK_LOGIT = math.log(2.2)  # odds x2.2 is about PD x1.8 on a dispersed 6% book
_SHOCK_EXTRA_PD = 0.8  # extra default probability on the open book, as a share of its true PD
_USED_MIX_LOGIT = 1.5  # ~35% used becomes ~70% used
_WEEKDAY_WEIGHT = np.array([1.0, 1.0, 1.0, 1.05, 1.15, 0.75, 0.35])  # Monday first
_SEGMENT_P = np.array([0.12, 0.22, 0.22, 0.26, 0.12, 0.06])
_SEGMENT_NEW_PRICE = np.array([22_000, 27_000, 33_000, 40_000, 48_000, 62_000.0])
_TERMS = np.array([36, 48, 60, 72, 84])
_TERM_CUTS = np.array([-1.25, -0.65, 0.15, 1.25])
_LATENT_SD = 1.50
_TAKE_UP = 0.83
_PREPAY_RATE = 0.01
_LATE_HAZARD_SHARE = 0.3
_DEFAULT_MONTHS = np.arange(4, 13)
_DEFAULT_MONTH_W = np.array([0.06, 0.09, 0.11, 0.13, 0.13, 0.13, 0.12, 0.12, 0.11])
_EPISODES = 4  # transient delinquencies drawn per loan (most fall after the loan has ended)
_SEVERE_SHARE = 0.15  # transient 1-30 episodes that reach 31-60 before curing
_SEASONED_EPISODE_SHARE = 0.25  # episode rate after month 12, relative to year one
_TRUTH_COEF: dict[str, float] = {
    "score_gap": 0.15, "pti": 0.50, "dti": 0.6, "utilisation": 0.35,
    "inquiries": 0.05, "delinquencies": 0.15, "used": 0.1, "vehicle_age": 0.0175, "term": 0.05,
    "no_home_equity": 0.075, "log_income": -0.175, "log_employment": -0.125, "age": -0.06,
    "down_share": -0.75, "ltv_x_used": 6.00, "pti_x_low_score": 30.0,
    "score_step": 2.00, "ltv_high": 1.50, "pti_high": 4.00, "young_new_job": 0.80,
    "utilisation_maxed": 2.00, "dti_high": 4.00, "old_used": 0.60,
    "underwater_used": 1.80, "thin_file_young": 1.50,
}

Draws = dict[str, np.ndarray]


@dataclass
class Book:
    """One simulated book. ``truth`` is for tests and diagnostics only: never write it to the
    warehouse, and never use its columns as features."""

    applications: pd.DataFrame  # columns exactly schema.APPLICATION_COLUMNS, sorted by time
    loans: pd.DataFrame  # booked applications only; loan_id = "L" + the application's digits
    repayments: pd.DataFrame  # schema.REPAYMENT_COLUMNS: one row per loan and month end
    truth: pd.DataFrame  # aligned with applications: application_id, true_pd, booked,
    #                      bad_12m (1.0/0.0, NaN if not booked), default_month (NaN if never)


@dataclass(frozen=True)
class _Dealers:
    ids: np.ndarray  # object strings "D0042"
    region: np.ndarray  # codes into CATEGORIES["dealer_region"]
    channel: np.ndarray  # codes into CATEGORIES["dealer_channel"]
    weight: np.ndarray  # share of application volume
    effect: np.ndarray  # latent log-odds quality effect
    fraud: np.ndarray  # bool: in the ring that turns bad under "dealer_fraud"


@dataclass(frozen=True)
class _Events:
    default_month: np.ndarray  # float, NaN if the loan never reaches 90+
    end_mob: np.ndarray  # month on book of the last row (pay-off, charge-off); may pass tape_end
    charged_off: np.ndarray  # bool


# ---------------------------------------------------------------------------------------------
# Random streams, ids, dealers, calendar
# ---------------------------------------------------------------------------------------------

def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent child stream per stage, so a stage's draws never depend on how many numbers
    another stage (or a scenario) used."""
    children = np.random.default_rng(seed).spawn(len(_STREAMS))
    return dict(zip(_STREAMS, children, strict=True))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    digits = np.strings.zfill(numbers.astype(np.dtypes.StringDType()), width)
    return np.strings.add(prefix, digits).astype(object)


def _labels(category: str, codes: np.ndarray) -> np.ndarray:
    return np.array(CATEGORIES[category], dtype=object)[codes]


def _pick(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of category codes from uniforms (same uniforms, same codes)."""
    cum = np.cumsum(p)
    return np.searchsorted(cum / cum[-1], u, side="right")


def _make_dealers(rng: np.random.Generator, n_dealers: int) -> _Dealers:
    region = _pick(rng.random(n_dealers), _REGION_P)
    channel = _pick(rng.random(n_dealers), _CHANNEL_P)
    weight = (rng.permutation(n_dealers) + 1.0) ** -_ZIPF_EXPONENT
    worse = rng.random(n_dealers) < 0.07
    effect = (rng.normal(0.0, 0.15, n_dealers) + worse * rng.uniform(0.5, 1.0, n_dealers)
              + _CHANNEL_EFFECT[channel])
    ring_order = rng.random(n_dealers)
    in_region = np.flatnonzero(region == CATEGORIES["dealer_region"].index(_FRAUD_REGION))
    k = min(len(in_region), max(1, round(_FRAUD_SHARE * n_dealers)))
    fraud = np.zeros(n_dealers, dtype=bool)
    fraud[in_region[np.argsort(ring_order[in_region], kind="stable")[:k]]] = True
    return _Dealers(_ids("D", np.arange(n_dealers), 4), region, channel, weight / weight.sum(),
                    effect, fraud)


def fraud_dealers(n_dealers: int, seed: int) -> list[str]:
    """The dealer ids of the ring that turns bad under scenario "dealer_fraud" (same for every
    scenario and book size, given n_dealers and seed)."""
    dealers = _make_dealers(_streams(seed)["dealers"], n_dealers)
    return [str(d) for d in dealers.ids[dealers.fraud]]


def _application_times(rng: np.random.Generator, n: int, start: date, end: date) -> np.ndarray:
    """Sorted datetime64[ns] timestamps: weekdays busier than weekends (Sunday quietest), within
    dealer opening hours, busiest early afternoon and tailing into the evening."""
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    day = days[_pick(rng.random(n), _WEEKDAY_WEIGHT[weekday])]
    hours = 8.0 + 14.0 * rng.beta(2.2, 2.8, n)
    seconds = (hours * 3600).astype(np.int64)
    ts = day.astype("datetime64[ns]") + seconds.astype("timedelta64[s]")
    return np.sort(ts)


# ---------------------------------------------------------------------------------------------
# Applicant and bureau (no scenario moves these)
# ---------------------------------------------------------------------------------------------

def _housing(rng: np.random.Generator, age: np.ndarray, log_inc_rel: np.ndarray) -> np.ndarray:
    years = age - 18
    scores = np.column_stack([
        -2.4 + 0.05 * years,  # own outright
        -0.6 + 0.03 * years + 0.8 * log_inc_rel,  # mortgage
        0.5 - 0.02 * years - 0.3 * log_inc_rel,  # rent
        -0.8 - 0.04 * years,  # other: mostly young people living with family
    ])
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(len(age))[:, None] > cum).sum(axis=1), 3)


def _applicants(rng: np.random.Generator, n: int, dealers: _Dealers) -> Draws:
    """Dealer, applicant and bureau attributes. ``quality`` is a latent creditworthiness that ties
    score, delinquencies, utilisation, inquiries and income together the way real files do."""
    dealer = _pick(rng.random(n), dealers.weight)
    quality = rng.standard_normal(n)
    age = np.clip(np.floor(18 + rng.gamma(4.5, 5.5, n)), 18, 85)
    career = 0.015 * (np.minimum(age, 50) - 40) - 0.02 * np.maximum(age - 65, 0)
    log_inc_rel = 0.5 * rng.standard_normal(n) + 0.12 * quality + career
    income = np.round(np.clip(55_000 * np.exp(log_inc_rel), 12_000, 600_000), -2)
    employment = np.round((np.minimum(age, 65) - 18) * rng.beta(1.3, 2.4, n), 1)
    housing = _housing(rng, age, log_inc_rel)
    score = np.clip(np.round(688 + 62 * quality + 0.9 * (age - 42)
                             + 18 * rng.standard_normal(n)), 300, 850)
    util = 1.25 * expit(-0.55 - 0.85 * quality + 0.7 * rng.standard_normal(n))
    debt_ratio = np.clip(0.12 + 0.10 * (housing == 1) - 0.03 * quality
                         + 0.06 * rng.standard_normal(n), 0.0, 0.6)
    return {
        "dealer": dealer, "quality": quality, "age": age, "income": income,
        "employment": employment, "housing": housing, "score": score,
        "inquiries": rng.poisson(np.exp(0.15 - 0.35 * quality)).astype(float),
        "delinquencies": rng.poisson(np.exp(-1.4 - 0.85 * quality)).astype(float),
        "open_trades": rng.poisson(np.exp(1.45 + 0.25 * log_inc_rel + 0.1 * quality)).astype(float),
        "utilisation": np.round(np.clip(util, 0.0, 1.2), 3),
        "monthly_debt": np.round(income / 12 * debt_ratio, 2),
    }


# ---------------------------------------------------------------------------------------------
# Vehicle and loan terms (scenarios transform these after the draws)
# ---------------------------------------------------------------------------------------------

def _vehicle_draws(rng: np.random.Generator, n: int) -> Draws:
    return {"segment_u": rng.random(n), "used_u": rng.random(n),
            "price_z": rng.standard_normal(n), "age_g": rng.gamma(2.0, 1.7, n)}


def _vehicles(d: Draws, person: Draws, channel: np.ndarray, mix: np.ndarray,
              inflate: np.ndarray) -> Draws:
    """Used share, vehicle age and price; ``mix`` marks applications under the used-car shift and
    ``inflate`` those whose dealer inflates prices."""
    inc_rel = person["income"] / 55_000
    segment = _pick(d["segment_u"], _SEGMENT_P)
    used_logit = (-0.95 + 0.9 * (channel == 1) + 0.3 * (channel == 2) - 0.6 * np.log(inc_rel)
                  + _USED_MIX_LOGIT * mix)
    used = d["used_u"] < expit(used_logit)
    age_draw = np.floor(d["age_g"] * np.where(mix, 1.5, 1.0))
    vehicle_age = np.where(used, 1 + np.minimum(age_draw, 11), 0).astype(float)
    new_price = _SEGMENT_NEW_PRICE[segment] * np.exp(0.15 * d["price_z"]) * inc_rel ** 0.35
    price = np.where(used, np.clip(new_price * 0.8 * 0.87 ** vehicle_age, 4_000, 45_000),
                     np.clip(new_price, 15_000, 90_000))
    price = np.round(price * np.where(inflate, _FRAUD_PRICE_INFLATION, 1.0))
    return {"segment": segment, "used": used, "vehicle_age": vehicle_age, "price": price}


def _terms_draws(rng: np.random.Generator, n: int) -> Draws:
    return {"zero_u": rng.random(n), "down_b": rng.beta(1.5, 3.0, n), "fee_u": rng.random(n),
            "neg_u": rng.random(n), "neg_g": rng.gamma(2.0, 1.0, n),
            "term_z": rng.standard_normal(n), "rate_z": rng.standard_normal(n)}


def annuity_payment(amount: np.ndarray, annual_rate: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Level monthly installment that repays ``amount`` over ``term`` months (rate > 0)."""
    r = annual_rate / 12
    return amount * r / (1 - (1 + r) ** -term)


def _terms(d: Draws, person: Draws, vehicle: Draws, channel: np.ndarray,
           mix: np.ndarray) -> Draws:
    """Down payment, financed fees and negative equity (so LTV can pass 1), term, rate, payment."""
    price, used, score = vehicle["price"], vehicle["used"], person["score"]
    zero_down = d["zero_u"] < expit(-1.6 - 0.012 * (score - 690) + 0.6 * mix)
    down_share = np.where(zero_down, 0.0, 0.30 * d["down_b"]) * np.where(mix, 0.7, 1.0)
    down = np.round(price * down_share)
    fees = price * (0.02 + 0.05 * d["fee_u"])  # tax, title, add-ons financed into the loan
    negative_equity = d["neg_u"] < 0.12 + 0.10 * used + 0.15 * mix
    rolled_in = np.where(negative_equity, price * 0.09 * d["neg_g"], 0.0)
    amount = np.round(np.minimum(price - down + fees + rolled_in, 2.0 * price), 2)
    term_latent = (0.5 * used + 0.55 * np.log(amount / 25_000) + 0.9 * d["term_z"] + 0.4 * mix)
    term = _TERMS[np.searchsorted(_TERM_CUTS, term_latent)]
    rate = (0.035 + 0.25 * np.exp(-(score - 500) / 85) + 0.015 * used + 0.002 * (term - 60) / 12
            + 0.01 * (channel == 1) + 0.006 * d["rate_z"])
    rate = np.round(np.clip(rate, 0.019, 0.29), 4)
    return {"down": down, "amount": amount, "term": term.astype(np.int64), "rate": rate,
            "payment": np.round(annuity_payment(amount, rate, term), 2)}


def _applications(ts: np.ndarray, app_ids: np.ndarray, person: Draws, dealers: _Dealers,
                  vdraws: Draws, tdraws: Draws, mix: np.ndarray, inflate: np.ndarray
                  ) -> pd.DataFrame:
    dealer = person["dealer"]
    channel = dealers.channel[dealer]
    vehicle = _vehicles(vdraws, person, channel, mix, inflate)
    terms = _terms(tdraws, person, vehicle, channel, mix)
    columns = {
        "application_id": app_ids, "application_ts": ts,
        "business_date": ts.astype("datetime64[D]").astype("datetime64[ns]"),
        "applicant_age": person["age"], "annual_income": person["income"],
        "employment_years": person["employment"],
        "housing": _labels("housing", person["housing"]),
        "vehicle_condition": _labels("vehicle_condition", vehicle["used"].astype(int)),
        "vehicle_price": vehicle["price"], "vehicle_age_years": vehicle["vehicle_age"],
        "vehicle_segment": _labels("vehicle_segment", vehicle["segment"]),
        "dealer_id": dealers.ids[dealer],
        "dealer_region": _labels("dealer_region", dealers.region[dealer]),
        "dealer_channel": _labels("dealer_channel", channel),
        "loan_amount": terms["amount"], "down_payment": terms["down"],
        "term_months": terms["term"], "interest_rate": terms["rate"],
        "monthly_payment": terms["payment"], "monthly_debt": person["monthly_debt"],
        "bureau_score": person["score"], "inquiries_6m": person["inquiries"],
        "delinquencies_2y": person["delinquencies"], "open_trades": person["open_trades"],
        "revolving_utilization": person["utilisation"],
    }
    return pd.DataFrame({name: columns[name] for name in APPLICATION_COLUMNS})


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
                       latent: np.ndarray | None = None, intercept: float = 0.0) -> np.ndarray:
    """Log-odds of reaching 90+ within 12 months on book: ``intercept + f(apps) + dealer_effect
    (+ latent)``, f as documented in the module docstring. ``dealer_effect`` and ``latent`` are
    per application (aligned with ``apps``); ``latent`` is risk the application does not show."""
    terms = _risk_terms(apps)
    logit = float(intercept) + np.asarray(dealer_effect, dtype=float)
    for name, coefficient in _TRUTH_COEF.items():
        logit += coefficient * terms[name]
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
# Outcomes
# ---------------------------------------------------------------------------------------------

def _outcome_draws(rng: np.random.Generator, n: int) -> Draws:
    return {
        "take_u": rng.random(n), "latent": _LATENT_SD * rng.standard_normal(n),
        "bad_u": rng.random(n), "month_u": rng.random(n), "late_e": rng.standard_exponential(n),
        "prepay": rng.geometric(_PREPAY_RATE, n).astype(float),
        "shock_u": rng.random(n), "shock_delay_u": rng.random(n),
        "episode_gap": rng.standard_exponential((n, _EPISODES)),
        "severe_u": rng.random((n, _EPISODES)),
    }


def _loan_events(d: Draws, pd_: np.ndarray, term: np.ndarray,
                 shock_start: np.ndarray) -> _Events:
    """Default month, last month on book and how the loan ends. ``shock_start`` is the month on
    book of the first month end at or after an income shock (NaN: the loan is not exposed)."""
    bad = d["bad_u"] < pd_
    early = _DEFAULT_MONTHS[_pick(d["month_u"], _DEFAULT_MONTH_W)].astype(float)
    with np.errstate(divide="ignore"):
        late = 12 + np.ceil(d["late_e"] / (_LATE_HAZARD_SHARE * pd_ / 12))
    # Loans that go bad in year one do not refinance first, so bad_12m stays Bernoulli(true_pd).
    prepay = np.where(bad, np.inf, d["prepay"])
    month = np.where(bad, early, late)
    # A default only happens if the loan is still on the book when payments stop (m - 3).
    month = np.where((month + 2 <= term) & (month - 3 < prepay), month, np.inf)
    shock = shock_start + np.floor(d["shock_delay_u"] * 9) + 3
    hit = ((d["shock_u"] < np.minimum(_SHOCK_EXTRA_PD * pd_, 0.5)) & (shock + 2 <= term)
           & (shock - 3 < prepay))
    month = np.where(hit, np.minimum(month, shock), month)
    defaulted = np.isfinite(month)
    end = np.where(defaulted, month + 2, np.minimum(prepay, term)).astype(np.int64)
    return _Events(np.where(defaulted, month, np.nan), end, defaulted)


def _episodes(d: Draws, pd_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Months on book of transient 1-30 episodes and whether each reaches 31-60 before it cures.
    Riskier loans slip more often, and seasoned loans (past month 12) less often, in step with
    the default hazard, so the 1-30 -> 31-60 roll rate does not drift as the book seasons."""
    rate = 0.006 + 0.15 * pd_
    clock = np.cumsum(d["episode_gap"], axis=1) / rate[:, None]  # months at the year-one rate
    months = np.where(clock <= 12, clock, 12 + (clock - 12) / _SEASONED_EPISODE_SHARE)
    return np.ceil(np.minimum(months, 10_000)).astype(np.int64), d["severe_u"] < _SEVERE_SHARE


# ---------------------------------------------------------------------------------------------
# Repayment tape
# ---------------------------------------------------------------------------------------------

def _month_index(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[M]").astype(np.int64)


def _first_month_end_index(orig: np.ndarray) -> np.ndarray:
    """Month index of the first month end strictly after origination."""
    month = _month_index(orig)
    is_month_end = _month_index(orig + np.timedelta64(1, "D")) != month
    return month + is_month_end


def _month_ends(first: int, last: int) -> np.ndarray:
    months = np.arange(first, last + 2).astype("datetime64[M]")
    return (months[1:].astype("datetime64[D]") - 1).astype("datetime64[ns]")


def _tape_buckets(rel: np.ndarray, row_start: np.ndarray, n_rows: np.ndarray, events: _Events,
                  episodes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Bucket codes (index into DPD_BUCKETS): transient episodes scattered onto their rows, then
    the roll to charge-off of defaulting loans, then the clean pay-off row. ``rel`` is months on
    book minus the default month (NaN for loans that never default)."""
    codes = np.zeros(len(rel), dtype=np.int8)
    month, severe = episodes
    row = row_start[:, None] + month - 1
    codes[row[month <= n_rows[:, None]]] = 1
    codes[row[severe & (month + 1 <= n_rows[:, None])] + 1] = 2
    in_path = rel >= -3  # NaN compares False
    path = np.array([1, 2, 3, 4, 4, 5], dtype=np.int8)
    codes[in_path] = path[(rel[in_path] + 3).astype(np.int64)]
    ended = events.end_mob <= n_rows
    codes[(row_start + n_rows - 1)[ended & ~events.charged_off]] = 0
    return codes


def _tape_balance(loans: pd.DataFrame, loan: np.ndarray, mob: np.ndarray, rel: np.ndarray,
                  codes: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Scheduled annuity balance after the installments actually paid: a delinquent loan's balance
    stays where its last payment left it; a paid-off loan's balance is 0."""
    missed = np.array([0, 1, 2, 3, 0, 0])[codes]
    # On the roll to charge-off the last installment paid is the one at month m - 4.
    paid = np.where(rel >= -3, mob - rel - 4, mob - missed)
    log_growth = np.log1p(loans["interest_rate"].to_numpy() / 12)
    full = np.exp(log_growth * loans["term_months"].to_numpy())
    scale = loans["loan_amount"].to_numpy() / (full - 1)
    balance = scale[loan] * (full[loan] - np.exp(log_growth[loan] * paid))
    return np.round(np.where(status == 1, 0.0, np.maximum(balance, 0.0)), 2)


def _tape(loans: pd.DataFrame, events: _Events, episodes: tuple[np.ndarray, np.ndarray],
          tape_end: date) -> pd.DataFrame:
    """One row per loan and month end from the first month end after origination until the loan
    ends or the last month end on or before ``tape_end``."""
    orig = loans["origination_date"].to_numpy().astype("datetime64[D]")
    first = _first_month_end_index(orig)
    last = _month_index(np.datetime64(tape_end, "D") + 1) - 1  # last month end <= tape_end
    n_rows = np.clip(np.minimum(events.end_mob, last - first + 1), 0, None)
    row_start = np.cumsum(n_rows) - n_rows
    loan = np.repeat(np.arange(len(loans), dtype=np.int64), n_rows)
    mob = np.arange(len(loan), dtype=np.int64) - row_start[loan] + 1
    rel = mob - events.default_month[loan]
    codes = _tape_buckets(rel, row_start, n_rows, events, episodes)
    status = np.zeros(len(mob), dtype=np.int8)
    at_end = mob == events.end_mob[loan]
    status[at_end] = np.where(events.charged_off[loan[at_end]], 2, 1)
    base = int(first.min()) if len(first) else 0
    month_ends = _month_ends(base, max(int(last), base))
    return pd.DataFrame({
        "loan_id": loans["loan_id"].to_numpy()[loan],
        "as_of_month": month_ends[first[loan] + mob - 1 - base],
        "months_on_book": mob,
        "dpd_bucket": np.array(DPD_BUCKETS, dtype=object)[codes],
        "balance": _tape_balance(loans, loan, mob, rel, codes, status),
        "status": np.array(LOAN_STATUSES, dtype=object)[status],
    }, copy=False)


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
    keep = _kept(ts, thin_before, thin_share, seed)
    if not keep.all():
        apps, true_pd, booked = apps[keep].reset_index(drop=True), true_pd[keep], booked[keep]
        odraws = {k: v[keep] for k, v in odraws.items()}
    return _assemble(apps, true_pd, booked, odraws, scenario == "income_shock", onset,
                     tape_end or end)


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
