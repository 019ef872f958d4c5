"""Who applies and when, and what they apply for: dealers, application times, applicant and
bureau attributes, vehicle and loan terms, assembled into the applications frame. The model is
documented in ``simulate``'s module docstring; every stage draws from its own seeded stream.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from scipy.special import expit

from pipelines.simulation.draws import Draws, _Dealers, _ids, _labels, _pick, _streams
from pipelines.warehouse.schema import APPLICATION_COLUMNS, CATEGORIES

_REGION_P = np.array([0.20, 0.22, 0.20, 0.22, 0.16])
_CHANNEL_P = np.array([0.50, 0.38, 0.12])  # franchise, independent, online
_CHANNEL_EFFECT = np.array([0.0, 0.10, 0.05])
_ZIPF_EXPONENT = 0.8
_FRAUD_REGION = "south"
_FRAUD_SHARE = 0.05
_FRAUD_PRICE_INFLATION = 1.08
_USED_MIX_LOGIT = 1.5  # ~35% used becomes ~70% used
_WEEKDAY_WEIGHT = np.array([1.0, 1.0, 1.0, 1.05, 1.15, 0.75, 0.35])  # Monday first
_SEGMENT_P = np.array([0.12, 0.22, 0.22, 0.26, 0.12, 0.06])
_SEGMENT_NEW_PRICE = np.array([22_000, 27_000, 33_000, 40_000, 48_000, 62_000.0])
_TERMS = np.array([36, 48, 60, 72, 84])
_TERM_CUTS = np.array([-1.25, -0.65, 0.15, 1.25])


# ---------------------------------------------------------------------------------------------
# Dealers and calendar
# ---------------------------------------------------------------------------------------------

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

