"""What happens to each booked loan: the outcome draws, default month, prepayment and transient
delinquencies (``_loan_events``, ``_episodes``), and the monthly repayment tape built from them.
The model is documented in ``simulate``'s module docstring.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipelines.simulation.draws import Draws, _Events, _pick
from pipelines.warehouse.schema import DPD_BUCKETS, LOAN_STATUSES

_SHOCK_EXTRA_PD = 0.8  # extra default probability on the open book, as a share of its true PD
_LATENT_SD = 1.50
_PREPAY_RATE = 0.01
_LATE_HAZARD_SHARE = 0.3
_DEFAULT_MONTHS = np.arange(4, 13)
_DEFAULT_MONTH_W = np.array([0.06, 0.09, 0.11, 0.13, 0.13, 0.13, 0.12, 0.12, 0.11])
_EPISODES = 4  # transient delinquencies drawn per loan (most fall after the loan has ended)
_SEVERE_SHARE = 0.15  # transient 1-30 episodes that reach 31-60 before curing
_SEASONED_EPISODE_SHARE = 0.25  # episode rate after month 12, relative to year one


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

