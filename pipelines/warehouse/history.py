"""Warehouse readers that feed ``features.build_features`` and ``features.label_applications``.

Training reads many business dates and a late ``as_of``; scoring reads one business date with
``as_of = business_day_end(date)``. Both hand the same kinds of frames to the same builder, which
is what makes their features equal to the bit.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
from sqlalchemy import Date, bindparam, text

from features.build import FeatureConfig
from pipelines.core.calendar import business_day_end as business_day_end  # re-exported for readers
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.tape_cache import cached

OUTCOME_COLUMNS = ["loan_id", "application_id", "dealer_id", "origination_date",
                   "first_bad_month", "last_tape_month"]
_APP_DATES = ("application_ts", "business_date")
_APP_NUMERIC = [c for c, kind in schema.APPLICATION_COLUMNS.items() if kind in ("float", "int")]

# One GROUP BY over the tape (never loaded whole), joined to the loans booked by as_of.
_OUTCOMES_SQL = """
SELECT l.loan_id, l.application_id, l.dealer_id, l.origination_date,
       t.first_bad_month, t.last_tape_month
FROM loans AS l
LEFT JOIN (
    SELECT r.loan_id,
           MIN(CASE WHEN r.dpd_bucket IN :bad_buckets THEN r.as_of_month END) AS first_bad_month,
           MAX(r.as_of_month) AS last_tape_month
    FROM repayments AS r
    WHERE r.as_of_month <= :as_of
    GROUP BY r.loan_id
) AS t ON t.loan_id = l.loan_id
WHERE l.origination_date <= :originated_by
ORDER BY l.loan_id
"""


class HistoryError(CreditflowError):
    """Warehouse rows cannot be turned into feature inputs (e.g. an extra column clashes)."""


def feature_config(settings: Settings) -> FeatureConfig:
    f = settings.features
    return FeatureConfig(performance_window_months=f.performance_window_months,
                         dealer_prior_strength=f.dealer_prior_strength, base_rate=f.base_rate,
                         leakage_denylist=tuple(f.leakage_denylist),
                         allowed_policy_outputs=tuple(f.allowed_policy_outputs),
                         dealer_recent_months=f.dealer_recent_months)


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
    where, params, binds = [], {}, []
    for key, op, value in (("start", ">=", start), ("end", "<=", end)):
        if value is not None:
            where.append(f"business_date {op} :{key}")
            params[key] = value
            binds.append(bindparam(key, type_=Date))
    if id_range is not None:
        where.append("application_id >= :first_id AND application_id <= :last_id")
        params |= {"first_id": str(id_range[0]), "last_id": str(id_range[1])}
    sql = f"SELECT {', '.join(cols)} FROM applications"
    if where:
        sql += " WHERE " + " AND ".join(where)
    stmt = text(sql).bindparams(*binds)
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params=params)
    df = _dates(df, _APP_DATES)
    for col in [*_APP_NUMERIC, "known_bad"]:  # an all-NULL column arrives as object
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df = _unpack_extra(df)
    return df.sort_values(["application_ts", "application_id"], kind="stable",
                          ignore_index=True)


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


def load_outcomes(wh: Warehouse, as_of: date,
                  originated_by: date | None = None) -> pd.DataFrame:
    """One row per loan originated on or before ``as_of`` (or the earlier ``originated_by``):
    its dealer, origination date, first month end on the tape in a bad bucket (NaT if none) and
    last tape month, both <= as_of."""
    stmt = text(_OUTCOMES_SQL).bindparams(bindparam("as_of", type_=Date),
                                          bindparam("originated_by", type_=Date),
                                          bindparam("bad_buckets", expanding=True))
    day = pd.Timestamp(as_of).date()
    first = day if originated_by is None else min(day, pd.Timestamp(originated_by).date())
    params = {"as_of": day, "originated_by": first, "bad_buckets": list(schema.BAD_BUCKETS)}
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params=params)
    return _dates(df, ["origination_date", "first_bad_month", "last_tape_month"])[OUTCOME_COLUMNS]


def shared_outcomes(wh: Warehouse, as_of: date) -> pd.DataFrame:
    """``load_outcomes(wh, as_of)``, read once per tape version in a process: a training run and
    the promotion after it label the same data date (1-2 s each on a 2.4M-row tape). Callers
    must not modify the frame."""
    day = pd.Timestamp(as_of).date()
    return cached(wh, "outcomes", day, (), lambda: load_outcomes(wh, day))


def outcomes_from_frames(loans: pd.DataFrame, repayments: pd.DataFrame,
                         as_of: date) -> pd.DataFrame:
    """``load_outcomes`` computed in pandas from in-memory frames (a simulated Book, a bench):
    the same rows and columns, for code that has no warehouse."""
    cut = pd.Timestamp(as_of)
    tape = repayments.loc[pd.to_datetime(repayments["as_of_month"]) <= cut,
                          ["loan_id", "as_of_month", "dpd_bucket"]]
    month = pd.to_datetime(tape["as_of_month"])
    per_loan = pd.DataFrame({
        "loan_id": tape["loan_id"].to_numpy(),
        "first_bad_month": month.where(tape["dpd_bucket"].isin(schema.BAD_BUCKETS)).to_numpy(),
        "last_tape_month": month.to_numpy(),
    }).groupby("loan_id", sort=False).agg({"first_bad_month": "min", "last_tape_month": "max"})
    booked = loans.loc[pd.to_datetime(loans["origination_date"]) <= cut,
                       ["loan_id", "application_id", "dealer_id", "origination_date"]]
    out = booked.merge(per_loan, left_on="loan_id", right_index=True, how="left")
    out = _dates(out, ["origination_date", "first_bad_month", "last_tape_month"])
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


def feature_history(wh: Warehouse, as_of: date, window_months: int) -> pd.DataFrame:
    """The loan outcomes ``build_features`` needs on ``as_of``, read once per tape month.

    Dealer history uses only loans matured by an application's timestamp, i.e. originated at
    least ``window_months`` before ``as_of``. If T, the newest tape month on or before ``as_of``,
    is later than that, ``load_outcomes(wh, T)`` holds every such loan and every tape row up to
    ``as_of`` (there are none after T), so its dealer history is exactly that of
    ``load_outcomes(wh, as_of)``. Only loans that can have matured are read, whatever the tape
    holds (holding every young loan is what pushed the 5M-application scoring bench to
    2.45 GB): those originated by the month end of ``d - window``, where d is the later of
    ``as_of`` and a month after T. Every day until the next tape then reads the same rows
    (a loan read early but not yet matured is not counted), so the read is shared by them
    all. The cache (``pipelines.warehouse.tape_cache``) is invalidated by a late tape, late loans
    or a
    re-ingested tape."""
    day = pd.Timestamp(as_of).date()
    with wh.engine.connect() as conn:
        tape_month = conn.execute(text("SELECT MAX(as_of_month) FROM repayments WHERE "
                                       "as_of_month <= :d").bindparams(
            bindparam("d", type_=Date)), {"d": day}).scalar_one()
    if tape_month is None or pd.Timestamp(tape_month) < pd.Timestamp(day) - pd.DateOffset(
            months=window_months):  # no tape month to key a cache on: read as of the day
        return load_outcomes(wh, day, originated_by=_maturity_cut(day, window_months))
    t = pd.Timestamp(tape_month).date()
    cut = _maturity_cut(max(day, (pd.Timestamp(t) + pd.DateOffset(months=1)).date()),
                        window_months)
    return cached(wh, "feature_history", t, (cut,),
                  lambda: load_outcomes(wh, t, originated_by=cut))


def _maturity_cut(day: date, window_months: int) -> date:
    """The last origination date of a loan that can have matured by the end of ``day``'s
    month: the month end of ``day - window``."""
    return (pd.Timestamp(day) - pd.DateOffset(months=window_months)
            + pd.offsets.MonthEnd(0)).date()


def read_extra(extra: pd.Series) -> pd.DataFrame:
    """Unpack the JSON ``extra`` column back into columns (NaN where a row has none)."""
    filled = extra.fillna("{}")
    return pd.DataFrame([json.loads(x) for x in filled], index=extra.index)
