"""``build_features``: the one feature builder for training and scoring.

Point in time
-------------
An application's features use its own fields and, for dealer history, only facts known at its
timestamp ``t`` (capped at ``as_of``):

- a loan counts in dealer history once its window outcome is known (``features.outcome``): its
  window has closed (``window_end(origination) <= t``) and the tape month that decides it had
  arrived by ``t`` (a lagged tape counts from its arrival, not from its month end);
- it is bad if its first bad tape month (bad bucket, or a charged-off / repossessed status) is on
  or before its window end, good if its tape closed or reaches the window's last month end;
- a loan whose tape stops early without closing, or has no tape row, is unobserved and not
  counted (a missing tape is not a good loan).

Hence appending later applications, loans or tape months cannot change a built feature, and the
scoring path (one day, ``as_of`` = that day's end) gives the training path's values to the bit.

Dealer bad rate
---------------
``(bads + k * prior) / (matured + k)`` with ``k = dealer_prior_strength``. The prior is the
portfolio's bad rate over all loans matured by ``t``, itself smoothed toward ``base_rate`` with the
same weight, so it is ``base_rate`` before any loan has matured and the portfolio mean after.
Applications without a dealer id get NaN for both dealer features.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.outcome import HISTORY_COLUMNS, as_datetime, loan_outcomes, window_end
from features.registry import FeatureSpec, feature_specs

# Benchmark annual rate by term (a prime new-auto rate curve), as decimal fractions like
# ``interest_rate``. Fixed here on purpose: a benchmark estimated from the applications themselves
# (e.g. the median rate of the term) would depend on other, possibly later, applications.
# Terms between the knots are interpolated linearly, terms outside take the nearest knot.
RATE_BENCHMARK: dict[int, float] = {36: 0.045, 48: 0.047, 60: 0.049, 72: 0.051, 84: 0.053}



@dataclass(frozen=True)
class FeatureConfig:
    performance_window_months: int = 12
    dealer_prior_strength: float = 50.0
    base_rate: float = 0.06
    leakage_denylist: tuple[str, ...] = ()
    # What makes a tape month bad, and how long after its month end a tape row is known when
    # its load date is not recorded (see features.outcome).
    bad_buckets: tuple[str, ...] = ("90+", "charge-off")
    tape_lag_days: int = 0
    allowed_policy_outputs: tuple[str, ...] = ()
    dealer_recent_months: int = 12
    # A dealer's recent count is capped: beyond it more history says nothing new, and the one
    # or two largest dealers would otherwise set the training maximum that their own next
    # year's volume (a few percent higher) leaves, all their applications at once.
    dealer_recent_cap: float = 500.0

    def __post_init__(self) -> None:
        if self.performance_window_months < 1:
            raise ValueError("performance_window_months must be at least 1, got "
                             f"{self.performance_window_months}")
        if not self.dealer_prior_strength > 0:
            raise ValueError(f"dealer_prior_strength must be > 0, got {self.dealer_prior_strength}")
        if not 0.0 < self.base_rate < 1.0:
            raise ValueError(f"base_rate must be in (0, 1), got {self.base_rate}")
        if not self.bad_buckets:
            raise ValueError("bad_buckets must name at least one delinquency bucket")
        if self.tape_lag_days < 0:
            raise ValueError(f"tape_lag_days must be >= 0, got {self.tape_lag_days}")
        if not self.dealer_recent_cap > 0:
            raise ValueError(f"dealer_recent_cap must be > 0, got {self.dealer_recent_cap}")
        if self.dealer_recent_months < 1:
            raise ValueError("dealer_recent_months must be at least 1, got "
                             f"{self.dealer_recent_months}")


class LeakageError(ValueError):
    """A post-origination field reached the feature builder."""


class FeatureInputError(ValueError):
    """The applications or history frame cannot be used (missing key, duplicate id, ...)."""


# ---------------------------------------------------------------------------------------------
# guards


def check_leakage(columns: Iterable[str], specs: Sequence[FeatureSpec],
                  denylist: Sequence[str], allowed_policy_outputs: Collection[str] = ()) -> None:
    """Refuse denylisted columns in the input frame or in any feature's application sources,
    and any feature marked as a policy output (the lender's own price or grade: circular as an
    input) unless it is explicitly allowed. Matching ignores case: a tape's ``Balance`` is as
    leaky as ``balance``."""
    policy = sorted(s.name for s in specs if s.policy_output
                    and s.name not in allowed_policy_outputs)
    if policy:
        raise LeakageError(f"feature(s) {', '.join(policy)} are policy outputs (set by the "
                           "lender from an earlier risk grade), refused as model inputs unless "
                           "listed in features.allowed_policy_outputs")
    denied = {str(d).casefold() for d in denylist}
    in_frame = sorted(str(c) for c in columns if str(c).casefold() in denied)
    in_specs = sorted({f"{s.name} <- {src}" for s in specs for src in s.sources
                       if "." not in src and src.casefold() in denied})
    if in_frame or in_specs:
        parts = []
        if in_frame:
            parts.append(f"applications carry post-origination column(s) {', '.join(in_frame)}")
        if in_specs:
            parts.append(f"feature(s) computed from post-origination fields: "
                         f"{', '.join(in_specs)}")
        raise LeakageError("; ".join(parts) + " (leakage denylist; drop them before building "
                           "features)")


def _check_inputs(applications: pd.DataFrame, history: pd.DataFrame) -> None:
    for col in ("application_id", "application_ts"):
        if col not in applications.columns:
            raise FeatureInputError(f"applications lack the required column '{col}'")
    ids = applications["application_id"]
    if ids.isna().any():
        raise FeatureInputError(f"applications: {int(ids.isna().sum())} row(s) without "
                                "application_id")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise FeatureInputError(f"applications: application_id {dup.iloc[0]!r} occurs more "
                                f"than once ({len(dup)} duplicate(s))")
    ts = applications["application_ts"]
    if ts.isna().any():
        first = ids[ts.isna().to_numpy()].iloc[0]
        raise FeatureInputError(f"applications: application_ts missing for application_id "
                                f"{first!r} ({int(ts.isna().sum())} row(s))")
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise FeatureInputError(f"history lacks column(s) {', '.join(missing)} "
                                "(expected the frame of pipelines.warehouse.history.load_outcomes)")


# ---------------------------------------------------------------------------------------------
# per-application features


def _num(apps: pd.DataFrame, col: str) -> np.ndarray:
    """A source column as float64; all-NaN when the tape does not have it."""
    if col not in apps.columns:
        return np.full(len(apps), np.nan)
    return pd.to_numeric(apps[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where the denominator is not positive (an undefined ratio is missing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(x), np.nan)


def _monthly_income(apps: pd.DataFrame) -> np.ndarray:
    return _num(apps, "annual_income") / 12.0


def _rate_spread(apps: pd.DataFrame) -> np.ndarray:
    knots = np.array(sorted(RATE_BENCHMARK), dtype="float64")
    rates = np.array([RATE_BENCHMARK[int(k)] for k in knots])
    term = _num(apps, "term_months")
    benchmark = np.interp(term, knots, rates)  # NaN term -> NaN benchmark
    return _num(apps, "interest_rate") - benchmark


def _is_used(apps: pd.DataFrame) -> np.ndarray:
    if "vehicle_condition" not in apps.columns:
        return np.full(len(apps), np.nan)
    cond = apps["vehicle_condition"]
    return np.select([cond.eq("used").to_numpy(), cond.eq("new").to_numpy()], [1.0, 0.0],
                     default=np.nan)


Builder = Callable[[pd.DataFrame], np.ndarray]

# Features computed from several columns or transformed; every other float feature reads the one
# column it names (its only source).
DERIVED: dict[str, Builder] = {
    "ltv": lambda a: _ratio(_num(a, "loan_amount"), _num(a, "vehicle_price")),
    "pti": lambda a: _ratio(_num(a, "monthly_payment"), _monthly_income(a)),
    "dti": lambda a: _ratio(_num(a, "monthly_debt") + _num(a, "monthly_payment"),
                            _monthly_income(a)),
    "down_payment_share": lambda a: _ratio(_num(a, "down_payment"), _num(a, "vehicle_price")),
    "rate_spread": _rate_spread,
    "is_used": _is_used,
    "log_vehicle_price": lambda a: _log(_num(a, "vehicle_price")),
    "log_annual_income": lambda a: _log(_num(a, "annual_income")),
}
DEALER_FEATURES = ("dealer_bad_rate", "dealer_matured_loans_12m")


def _categorical(apps: pd.DataFrame, spec: FeatureSpec) -> pd.Categorical:
    col = spec.sources[0]
    if col not in apps.columns:
        return pd.Categorical(np.full(len(apps), np.nan, dtype=object), categories=spec.categories)
    values = apps[col]
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
            or isinstance(values.dtype, pd.CategoricalDtype)):
        values = values.astype(object).where(values.isna(), values.astype(str))
    return pd.Categorical(values.to_numpy(dtype=object), categories=list(spec.categories))


def _float_feature(apps: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    if spec.name in DERIVED:
        return DERIVED[spec.name](apps)
    if len(spec.sources) != 1:
        raise FeatureInputError(f"feature '{spec.name}' has no builder and more than one source "
                                f"({', '.join(spec.sources)})")
    return _num(apps, spec.sources[0])


# ---------------------------------------------------------------------------------------------
# dealer history


@dataclass(frozen=True)
class _DealerTables:
    """The history side of dealer history: loans matured by ``cap``, the month end of the
    latest application time. An application at ``t`` is joined only to loans matured by ``t``,
    so any cap at or after every ``t`` gives the same features; a month-end cap lets the calls
    of one month (a day's scoring, its monitoring window) share one set of tables."""

    cum: pd.DataFrame  # per dealer and maturity time: cumulative matured and bad counts
    when: np.ndarray  # maturity times of all observed loans, sorted
    cum_bad: np.ndarray  # bads among the first n of them (cum_bad[0] = 0)


_LAST_TABLES: tuple[weakref.ref, tuple[int, int, pd.Timestamp], _DealerTables] | None = None


def _matured_loans(history: pd.DataFrame, window: int, cap: pd.Timestamp) -> pd.DataFrame:
    """One row per loan whose window outcome (``features.outcome``) is known by ``cap``:
    dealer, the time it became known, bad flag."""
    outcome = loan_outcomes(history, window)
    keep = outcome["bad"].notna() & (outcome["known_at"] <= cap)
    dealer = history["dealer_id"].astype(object)
    return pd.DataFrame({"dealer_id": dealer[keep].to_numpy(),
                         "mature_ts": outcome["known_at"][keep].to_numpy(dtype="datetime64[ns]"),
                         "bad": outcome["bad"][keep].to_numpy()})


def _build_tables(history: pd.DataFrame, window: int, cap: pd.Timestamp) -> _DealerTables:
    events = _matured_loans(history, window, cap)
    order = np.argsort(events["mature_ts"].to_numpy(), kind="stable")
    when = events["mature_ts"].to_numpy()[order]
    cum_bad = np.concatenate([[0.0], np.cumsum(events["bad"].to_numpy()[order])])
    events = events.dropna(subset=["dealer_id"])
    per = events.groupby(["dealer_id", "mature_ts"], sort=True)["bad"].agg(["size", "sum"])
    grouped = per.groupby(level="dealer_id", sort=False)
    cum = pd.DataFrame({"n_cum": grouped["size"].cumsum().astype("float64"),
                        "b_cum": grouped["sum"].cumsum()}).reset_index()
    return _DealerTables(cum.sort_values("mature_ts", kind="stable"), when, cum_bad)


def _dealer_tables(history: pd.DataFrame, window: int, cap: pd.Timestamp) -> _DealerTables:
    """The tables of ``history`` up to ``cap``, rebuilt only for a new frame or cap: a daily run
    builds features many times from the same shared history frame (one per tape month, see
    ``pipelines.warehouse.tape_cache``), and building the tables is most of the cost (~0.1 s on 90k
    loans). The frame is treated as read-only, like every input of ``build_features``."""
    global _LAST_TABLES
    last, key = _LAST_TABLES, (len(history), window, cap)
    if last is not None and last[0]() is history and last[1] == key:
        return last[2]
    tables = _build_tables(history, window, cap)
    _LAST_TABLES = (weakref.ref(history), key, tables)
    return tables


def _end_of_month(ts: pd.Timestamp) -> pd.Timestamp:
    """The last instant of ``ts``'s month."""
    return ts.normalize() + pd.offsets.MonthEnd(0) + pd.Timedelta(days=1) - pd.Timedelta(1)


def _portfolio_prior(tables: _DealerTables, t: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Portfolio bad rate over loans matured by each ``t``, smoothed toward base_rate."""
    n = np.searchsorted(tables.when, t, side="right")  # loans with mature_ts <= t
    k = config.dealer_prior_strength
    return (tables.cum_bad[n] + k * config.base_rate) / (n + k)


def _dealer_counts(tables: _DealerTables, left: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Matured and bad loan counts of each application's dealer at its time ``t`` (sorted): an
    as-of join of the per-dealer cumulative sums on the maturity time."""
    if tables.cum.empty:
        return np.zeros(len(left)), np.zeros(len(left))
    joined = pd.merge_asof(left, tables.cum, left_on="t", right_on="mature_ts", by="dealer_id",
                           direction="backward", allow_exact_matches=True)
    return (joined["n_cum"].fillna(0.0).to_numpy(), joined["b_cum"].fillna(0.0).to_numpy())


def dealer_history(applications: pd.DataFrame, history: pd.DataFrame, as_of: pd.Timestamp,
                   config: FeatureConfig) -> pd.DataFrame:
    """``dealer_bad_rate`` (every loan matured by ``t``) and ``dealer_matured_loans_12m`` (loans
    matured in the ``dealer_recent_months`` before ``t``, at most ``dealer_recent_cap``) per
    application (input order)."""
    n_apps = len(applications)
    out = pd.DataFrame({"dealer_bad_rate": np.full(n_apps, np.nan),
                        "dealer_matured_loans_12m": np.full(n_apps, np.nan)})
    if "dealer_id" not in applications.columns or n_apps == 0:
        return out
    ts = as_datetime(applications["application_ts"]).to_numpy(dtype="datetime64[ns]")
    t = np.minimum(ts, as_of.to_datetime64().astype("datetime64[ns]"))
    latest = pd.Series(t).max()
    tables = _dealer_tables(history, config.performance_window_months,
                            _end_of_month(latest if pd.notna(latest) else as_of))
    has_dealer = applications["dealer_id"].notna().to_numpy()
    left = pd.DataFrame({"t": t[has_dealer],
                         "dealer_id": applications["dealer_id"].to_numpy(dtype=object)[has_dealer],
                         "pos": np.flatnonzero(has_dealer)})
    left = left.sort_values("t", kind="stable")
    matured, bads = _dealer_counts(tables, left)
    # Matured by t minus the recent months: minus whole months can reorder times within a day
    # (28 Feb 23:00 and 29 Feb 09:00 both land on 28 Feb), so that join sorts on its own key.
    recent = left.assign(t=left["t"] - pd.DateOffset(months=config.dealer_recent_months))
    recent = recent.sort_values("t", kind="stable")
    before = pd.Series(_dealer_counts(tables, recent)[0], index=recent.index)
    matured_before = before.reindex(left.index).to_numpy()
    prior = _portfolio_prior(tables, left["t"].to_numpy(), config)
    k = config.dealer_prior_strength
    pos = left["pos"].to_numpy()
    out.loc[pos, "dealer_bad_rate"] = (bads + k * prior) / (matured + k)
    out.loc[pos, "dealer_matured_loans_12m"] = np.minimum(matured - matured_before,
                                                          config.dealer_recent_cap)
    return out


# ---------------------------------------------------------------------------------------------
# the builder


def build_features(applications: pd.DataFrame, history: pd.DataFrame, as_of: pd.Timestamp,
                   config: FeatureConfig = FeatureConfig(),
                   specs: Sequence[FeatureSpec] | None = None) -> pd.DataFrame:
    """Features per application, indexed by application_id in input order, columns in spec
    order: float64 (NaN where a source is missing) or Categorical with the spec's categories.

    ``history`` is the loan-outcome frame of ``pipelines.warehouse.history.load_outcomes``; facts
    after
    ``as_of`` are ignored, and each application sees only loans matured by its own timestamp."""
    specs = feature_specs() if specs is None else list(specs)
    check_leakage(applications.columns, specs, config.leakage_denylist,
                  config.allowed_policy_outputs)
    _check_inputs(applications, history)
    as_of = pd.Timestamp(as_of) if as_of is not None else pd.NaT
    if pd.isna(as_of) or as_of.tzinfo is not None:
        raise FeatureInputError(f"as_of must be a timezone-naive timestamp, got {as_of!r}")
    apps = applications.reset_index(drop=True)
    dealer = None
    if any(s.name in DEALER_FEATURES for s in specs):
        dealer = dealer_history(apps, history, as_of, config)
    columns: dict[str, object] = {}
    for spec in specs:
        if spec.dtype == "category":
            columns[spec.name] = _categorical(apps, spec)
        elif dealer is not None and spec.name in DEALER_FEATURES:
            columns[spec.name] = dealer[spec.name].to_numpy(dtype="float64")
        else:
            columns[spec.name] = np.asarray(_float_feature(apps, spec), dtype="float64")
    index = pd.Index(apps["application_id"].to_numpy(), name="application_id")
    return pd.DataFrame(columns, index=index)


__all__ = ["DERIVED", "RATE_BENCHMARK", "FeatureConfig", "FeatureInputError",
           "LeakageError", "as_datetime", "build_features", "check_leakage", "dealer_history",
           "window_end"]
