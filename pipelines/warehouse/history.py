"""Warehouse readers that feed ``features.build_features`` and ``features.label_applications``.

Training reads many business dates and a late ``as_of``; scoring reads one business date with
``as_of = business_day_end(date)``. Both hand the same kinds of frames to the same builder, which
is what makes their features equal to the bit.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Date, TextClause, bindparam, text

from features.build import FeatureConfig
from features.outcome import HISTORY_COLUMNS, window_known_at
from pipelines.core.calendar import business_day_end as business_day_end  # re-exported for readers
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.tape_cache import cached

OUTCOME_COLUMNS = list(HISTORY_COLUMNS)
_APP_DATES = ("application_ts", "business_date")
_APP_NUMERIC = [c for c, kind in schema.APPLICATION_COLUMNS.items() if kind in ("float", "int")]
_OUTCOME_DATES = ["origination_date", "first_bad_month", "closed_month", "last_tape_month"]

# The tape as known at a time T, one row per loan (one GROUP BY, the tape never loaded whole): the
# first month in each delinquency bucket, in a bad status and in a closing status, and the last
# month. Every target's first bad month is a minimum over these columns, so the main, early and
# EPD labels of a day share one read. A tape row is known by T from its load date, or (none
# recorded) from its month end plus the lag.
_BUCKET_COLUMNS = {"current": "first_current", "1-30": "first_1_30", "31-60": "first_31_60",
                   "61-90": "first_61_90", "90+": "first_90_plus",
                   "charge-off": "first_charge_off"}
if list(_BUCKET_COLUMNS) != schema.DPD_BUCKETS:  # a bucket without its column would never be bad
    raise RuntimeError("the tape summary's bucket columns do not match schema.DPD_BUCKETS")
_TAPE_SUMMARY_SQL = """
SELECT r.loan_id,
       MIN(CASE WHEN r.dpd_bucket = :bucket_0 THEN r.as_of_month END) AS first_current,
       MIN(CASE WHEN r.dpd_bucket = :bucket_1 THEN r.as_of_month END) AS first_1_30,
       MIN(CASE WHEN r.dpd_bucket = :bucket_2 THEN r.as_of_month END) AS first_31_60,
       MIN(CASE WHEN r.dpd_bucket = :bucket_3 THEN r.as_of_month END) AS first_61_90,
       MIN(CASE WHEN r.dpd_bucket = :bucket_4 THEN r.as_of_month END) AS first_90_plus,
       MIN(CASE WHEN r.dpd_bucket = :bucket_5 THEN r.as_of_month END) AS first_charge_off,
       MIN(CASE WHEN r.status IN :bad_statuses THEN r.as_of_month END) AS first_bad_status,
       MIN(CASE WHEN r.status IN :closing THEN r.as_of_month END) AS closed_month,
       MAX(r.as_of_month) AS last_tape_month
FROM repayments AS r
WHERE (r.known_at <= :as_of OR (r.known_at IS NULL AND r.as_of_month <= :lag_cut))
GROUP BY r.loan_id
"""
_SUMMARY_DATES = [*_BUCKET_COLUMNS.values(), "first_bad_status", "closed_month",
                  "last_tape_month"]
_LOANS_SQL = """
SELECT loan_id, application_id, dealer_id, origination_date FROM loans
WHERE origination_date <= :originated_by
ORDER BY loan_id
"""
# When each tape month arrived: its latest recorded load date; rows without one, month + lag.
_MONTHS_SQL = """
SELECT r.as_of_month, MAX(r.known_at) AS known_at,
       SUM(CASE WHEN r.known_at IS NULL THEN 1 ELSE 0 END) AS unrecorded
FROM repayments AS r
WHERE (r.known_at <= :as_of OR (r.known_at IS NULL AND r.as_of_month <= :lag_cut))
GROUP BY r.as_of_month
"""


class HistoryError(CreditflowError):
    """Warehouse rows cannot be turned into feature inputs (e.g. an extra column clashes)."""


def feature_config(settings: Settings) -> FeatureConfig:
    f = settings.features
    return FeatureConfig(performance_window_months=f.performance_window_months,
                         dealer_prior_strength=f.dealer_prior_strength, base_rate=f.base_rate,
                         leakage_denylist=tuple(f.leakage_denylist),
                         allowed_policy_outputs=tuple(f.allowed_policy_outputs),
                         dealer_recent_months=f.dealer_recent_months,
                         dealer_recent_cap=f.dealer_recent_cap,
                         bad_buckets=bad_buckets(f.bad_bucket), tape_lag_days=f.tape_lag_days)


def early_config(settings: Settings) -> FeatureConfig:
    """``feature_config`` with the early-performance target's window and bad bucket
    (``features.early``): the same outcome machinery and maturity rules, a shorter window."""
    e = settings.features.early
    return replace(feature_config(settings), performance_window_months=e.months,
                   bad_buckets=bad_buckets(e.bad_bucket))


def target_config(settings: Settings, target: str = "main") -> FeatureConfig:
    """The outcome configuration of a target's label: "main" (``feature_config``), "early"
    (``early_config``) or "epd", the early-payment-default model's (``settings.epd``: its own
    window and bad bucket, the same outcome machinery and maturity rules)."""
    if target == "main":
        return feature_config(settings)
    if target == "early":
        return early_config(settings)
    if target == "epd":
        e = settings.epd
        return replace(feature_config(settings), performance_window_months=e.months,
                       bad_buckets=bad_buckets(e.bad_bucket))
    raise HistoryError(f"unknown target {target!r}; one of main, early, epd")


def bad_buckets(first: str) -> tuple[str, ...]:
    """The configured bad bucket and every worse one."""
    if first not in schema.DPD_BUCKETS:
        raise HistoryError(f"features.bad_bucket '{first}' is not a delinquency bucket "
                           f"(one of {', '.join(schema.DPD_BUCKETS)})")
    return tuple(schema.DPD_BUCKETS[schema.DPD_BUCKETS.index(first):])


def _dates(df: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    for col in columns:  # SQLite returns text, PostgreSQL date objects: one dtype for both
        df[col] = pd.to_datetime(df[col], format="mixed").astype("datetime64[ns]")
    return df


def load_applications(wh: Warehouse, start: date | None = None, end: date | None = None,
                      id_range: tuple[str, str] | None = None) -> pd.DataFrame:
    """Applications with business_date in [start, end] (either bound optional) and, for chunked
    scoring, application_id in ``id_range`` (inclusive); extra feature columns unpacked from
    JSON; sorted by application_ts then application_id."""
    cols = [*schema.APPLICATION_COLUMNS, "known_bad", "extra"]
    one_day = start is not None and start == end
    where, params = ["1 = 1"], {}
    if one_day:  # the (business_date, application_id) index: an id range, in id order
        where.append("business_date = :day")
        params["day"] = pd.Timestamp(start).date()
    for key, op, value in (("start", ">=", start), ("end", "<=", end)):
        if value is not None and not one_day:
            where.append(f"business_date {op} :{key}")
            params[key] = pd.Timestamp(value).date()
    if id_range is not None:
        where.append("application_id >= :first_id AND application_id <= :last_id")
        params |= {"first_id": str(id_range[0]), "last_id": str(id_range[1])}
    df = wh.read_columnar("applications", cols, " AND ".join(where), params,
                          order_by="application_id" if one_day else None)
    df = _dates(df, _APP_DATES)
    for col in [*_APP_NUMERIC, "known_bad"]:  # an all-NULL column arrives as object
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df = _unpack_extra(df)
    # SQLite hands one day over in id order (the index's; text compared as bytes, which is
    # Python's order): a stable sort on the time alone then orders as sorting on both, without
    # comparing a million id strings. PostgreSQL orders text by its collation: sort on both.
    in_id_order = one_day and wh.dialect == "sqlite"
    keys = ["application_ts"] if in_id_order else ["application_ts", "application_id"]
    return df.sort_values(keys, kind="stable", ignore_index=True)


def _unpack_extra(df: pd.DataFrame) -> pd.DataFrame:
    extra = df.pop("extra")
    present = extra.notna()
    if not present.any():
        return df
    unpacked = read_extra(extra[present]).reindex(df.index)
    clash = sorted(set(unpacked.columns) & set(df.columns))
    if clash:
        raise HistoryError(f"extra feature column(s) {', '.join(clash)} clash with warehouse "
                           "application columns; rename them in the mapping file")
    return pd.concat([df, unpacked], axis=1)


def load_outcomes(wh: Warehouse, as_of: date, config: FeatureConfig,
                  originated_by: date | None = None) -> pd.DataFrame:
    """One row per loan originated on or before ``as_of`` (or the earlier ``originated_by``):
    its dealer, origination date, first bad, closing and last tape months, and when its window
    outcome became known (``features.outcome``), all from tape rows known by ``as_of``.

    The tape rows known by ``as_of`` are those known by T, the latest time on or before it at
    which a tape row became known; their summary is read once per T and tape version
    (``pipelines.warehouse.tape_cache``) and shared by every day until the next tape and by
    every target: a 2.6M-row tape took 3.4 s a read, and a demo month read it ~7 times."""
    day = pd.Timestamp(as_of).date()
    first = day if originated_by is None else min(day, pd.Timestamp(originated_by).date())
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(_bind(_LOANS_SQL), conn, params={"originated_by": first})
    known_by = _tape_known_by(wh, day, config.tape_lag_days)
    if known_by is None:
        tape, months = _empty_tape()
    else:
        tape, months = cached(wh, "tape_summary", known_by, (config.tape_lag_days,),
                              lambda: _tape_summary(wh, known_by, config.tape_lag_days))
    df = _dates(df, ["origination_date"]).merge(tape, on="loan_id", how="left")
    bad = [_BUCKET_COLUMNS[b] for b in config.bad_buckets if b in _BUCKET_COLUMNS]
    df["first_bad_month"] = df[[*bad, "first_bad_status"]].min(axis=1)
    df["window_known_at"] = window_known_at(df, config.performance_window_months, months)
    return df[OUTCOME_COLUMNS]


def _tape_summary(wh: Warehouse, known_by: date, lag_days: int
                  ) -> tuple[pd.DataFrame, pd.Series]:
    """Per loan, the tape's first months and last month as known at ``known_by``; and each tape
    month's arrival (``_month_known``)."""
    params = {"as_of": known_by, "lag_cut": known_by - timedelta(days=lag_days),
              "bad_statuses": list(schema.BAD_STATUSES), "closing": list(schema.CLOSING_STATUSES),
              **{f"bucket_{i}": b for i, b in enumerate(_BUCKET_COLUMNS)}}
    with wh.engine.connect() as conn:
        tape = pd.read_sql_query(_bind(_TAPE_SUMMARY_SQL), conn, params=params)
        months = pd.read_sql_query(_bind(_MONTHS_SQL), conn, params=params)
    return _dates(tape, _SUMMARY_DATES), _month_known(months, lag_days)


def _empty_tape() -> tuple[pd.DataFrame, pd.Series]:
    tape = pd.DataFrame({"loan_id": pd.Series(dtype=object),
                         **{c: pd.Series(dtype="datetime64[ns]") for c in _SUMMARY_DATES}})
    return tape, pd.Series(dtype="datetime64[ns]", index=pd.DatetimeIndex([]))


_DATE_PARAMS = ("as_of", "lag_cut", "originated_by")
_LIST_PARAMS = ("bad_buckets", "bad_statuses", "closing")


def _bind(sql: str) -> TextClause:
    """The statement with the typed parameters it names."""
    params = [bindparam(p, type_=Date) for p in _DATE_PARAMS if f":{p}" in sql]
    params += [bindparam(p, expanding=True) for p in _LIST_PARAMS if f":{p}" in sql]
    return text(sql).bindparams(*params)


def _month_known(months: pd.DataFrame, lag_days: int) -> pd.Series:
    """Arrival of each tape month: its latest recorded load date, or month end + lag when some
    of its rows have none (whichever is later)."""
    month = pd.to_datetime(months["as_of_month"], format="mixed").astype("datetime64[ns]")
    recorded = pd.to_datetime(months["known_at"], format="mixed").astype("datetime64[ns]")
    lagged = (month + pd.Timedelta(days=lag_days)).where(months["unrecorded"].fillna(0) > 0)
    known = pd.concat([recorded, lagged], axis=1).max(axis=1)
    return pd.Series(known.to_numpy(), index=pd.Index(month.to_numpy()))


def shared_outcomes(wh: Warehouse, as_of: date, config: FeatureConfig) -> pd.DataFrame:
    """``load_outcomes(wh, as_of, config)``, read once per tape version in a process: a training
    run and the promotion after it label the same data date (1-2 s each on a 2.4M-row tape).
    Callers must not modify the frame."""
    day = pd.Timestamp(as_of).date()
    return cached(wh, "outcomes", day, (config,), lambda: load_outcomes(wh, day, config))


def outcomes_from_frames(loans: pd.DataFrame, repayments: pd.DataFrame, as_of: date,
                         config: FeatureConfig) -> pd.DataFrame:
    """``load_outcomes`` computed in pandas from in-memory frames (a simulated Book, a bench):
    the same rows and columns, for code that has no warehouse (tape rows known at their month
    end plus the lag)."""
    cut = pd.Timestamp(as_of) - pd.Timedelta(days=config.tape_lag_days)
    tape = repayments.loc[pd.to_datetime(repayments["as_of_month"]) <= cut,
                          ["loan_id", "as_of_month", "dpd_bucket", "status"]]
    month = pd.to_datetime(tape["as_of_month"])
    bad = tape["dpd_bucket"].isin(config.bad_buckets) | tape["status"].isin(schema.BAD_STATUSES)
    per_loan = pd.DataFrame({
        "loan_id": tape["loan_id"].to_numpy(),
        "first_bad_month": month.where(bad).to_numpy(),
        "closed_month": month.where(tape["status"].isin(schema.CLOSING_STATUSES)).to_numpy(),
        "last_tape_month": month.to_numpy(),
    }).groupby("loan_id", sort=False).agg(
        {"first_bad_month": "min", "closed_month": "min", "last_tape_month": "max"})
    booked = loans.loc[pd.to_datetime(loans["origination_date"]) <= pd.Timestamp(as_of),
                       ["loan_id", "application_id", "dealer_id", "origination_date"]]
    out = booked.merge(per_loan, left_on="loan_id", right_index=True, how="left")
    out = _dates(out, _OUTCOME_DATES)
    months = pd.DataFrame({"as_of_month": month.unique(), "known_at": pd.NaT, "unrecorded": 1})
    out["window_known_at"] = window_known_at(out, config.performance_window_months,
                                             _month_known(months, config.tape_lag_days))
    return out.sort_values("loan_id", kind="stable", ignore_index=True)[OUTCOME_COLUMNS]


def infer_extra_features(applications: pd.DataFrame) -> tuple[list[str], dict[str, list[str]]]:
    """The bring-your-own extra columns of a loaded frame, for ``features.feature_specs``:
    numeric columns by name, categorical ones with their sorted observed values (call this on
    the training window and keep the result with the model, so scoring encodes the same way)."""
    known = {*schema.APPLICATION_COLUMNS, "known_bad"}
    numeric: list[str] = []
    categorical: dict[str, list[str]] = {}
    for col in applications.columns:
        if col in known:
            continue
        values = applications[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numeric.append(col)
        elif values.notna().any():  # a column never filled carries nothing to learn
            categorical[col] = sorted({str(v) for v in values.dropna().unique()})
    return numeric, categorical


def feature_history(wh: Warehouse, as_of: date, config: FeatureConfig) -> pd.DataFrame:
    """The loan outcomes ``build_features`` needs on ``as_of``, read once per tape arrival.

    Dealer history uses only loans whose window outcome is known by an application's timestamp,
    i.e. originated at least a window before ``as_of``. If T, the latest time on or before
    ``as_of`` at which a tape row became known, is later than that, ``load_outcomes(wh, T)``
    holds every such loan and every tape row known by ``as_of`` (none arrives between T and
    ``as_of``), so its dealer history is exactly that of ``load_outcomes(wh, as_of)``. Only loans
    that can have matured are read, whatever the tape holds (holding every young loan is what
    pushed the 5M-application scoring bench to 2.45 GB): those originated by the month end of
    ``d - window``, where d is the later of ``as_of`` and a month after T. Every day until the
    next tape then reads the same rows (a loan read early but not yet matured is not counted),
    so the read is shared by them all. The cache (``pipelines.warehouse.tape_cache``) is
    invalidated by a late tape, late loans or a re-ingested tape."""
    day = pd.Timestamp(as_of).date()
    window = config.performance_window_months
    known_by = _tape_known_by(wh, day, config.tape_lag_days)
    if known_by is None or pd.Timestamp(known_by) < pd.Timestamp(day) - pd.DateOffset(
            months=window):  # no tape arrival to key a cache on: read as of the day
        return load_outcomes(wh, day, config, originated_by=_maturity_cut(day, window))
    t = known_by
    cut = _maturity_cut(max(day, (pd.Timestamp(t) + pd.DateOffset(months=1)).date()), window)
    return cached(wh, "feature_history", t, (cut, config),
                  lambda: load_outcomes(wh, t, config, originated_by=cut))


_KNOWN_BY_SQL = """
SELECT MAX(known_at) FROM repayments WHERE known_at <= :as_of
UNION ALL
SELECT MAX(as_of_month) FROM repayments WHERE known_at IS NULL AND as_of_month <= :lag_cut
"""


def _tape_known_by(wh: Warehouse, day: date, lag_days: int) -> date | None:
    """The latest time on or before ``day`` at which a tape row became known (None: none)."""
    stmt = _bind(_KNOWN_BY_SQL)
    lag = timedelta(days=lag_days)
    with wh.engine.connect() as conn:
        recorded, month = conn.execute(stmt, {"as_of": day, "lag_cut": day - lag}).scalars()
    times = [pd.Timestamp(recorded).date() if recorded is not None else None,
             (pd.Timestamp(month) + lag).date() if month is not None else None]
    return max((t for t in times if t is not None), default=None)


def _maturity_cut(day: date, window_months: int) -> date:
    """The last origination date of a loan that can have matured by the end of ``day``'s
    month: the month end of ``day - window``."""
    return (pd.Timestamp(day) - pd.DateOffset(months=window_months)
            + pd.offsets.MonthEnd(0)).date()


def read_extra(extra: pd.Series) -> pd.DataFrame:
    """Unpack the JSON ``extra`` column back into columns (NaN where a row has none). Each
    distinct text is parsed once: a book's extras repeat (a state, a flag, a month count), and
    a JSON parse and a dict per row were most of reading them."""
    codes, distinct = pd.factorize(extra.fillna("{}"))
    parsed = pd.DataFrame([json.loads(x) for x in distinct])
    return parsed.take(codes).set_axis(extra.index) if len(parsed.columns) else \
        pd.DataFrame(index=extra.index)
