"""Monitoring's statements: the window's champion scores and application tokens, the
``monitoring_metrics`` rows, the monitoring and retrain-trigger rows of ``run_manifest``, and the
tape aggregations behind roll rates, vintage curves and early delinquency.

Every value is a bound parameter. The only text built from parts is a run of numbered
placeholders (``metric LIKE :m<i>``, ``WHEN :f<i> THEN :t<i>``), one per value passed.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Date, bindparam, text

from pipelines.warehouse.engine import Warehouse

CHAMPION_ROLE = "champion"  # scores.role of the rows the champion wrote


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# the window


def window_scores(wh: Warehouse, model_version: str, start: date, end: date) -> pd.DataFrame:
    """application_id, pd, score, decision and holdout of one champion version's scores in
    [start, end]."""
    stmt = text("SELECT application_id, pd, score, decision, holdout FROM scores "
                "WHERE role = :role "
                "AND model_version = :v AND business_date >= :s AND business_date <= :e"
                ).bindparams(bindparam("s", type_=Date), bindparam("e", type_=Date))
    with wh.engine.connect() as conn:
        return pd.read_sql_query(stmt, conn, params={"role": CHAMPION_ROLE, "v": model_version,
                                                     "s": start, "e": end})


def champion_scores_between(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """application_id, model_version, pd, decision and holdout of every champion score in
    [start, end]."""
    stmt = text("SELECT application_id, model_version, pd, decision, holdout FROM scores "
                "WHERE role = :role "
                "AND business_date >= :start AND business_date <= :end").bindparams(
        bindparam("start", type_=Date), bindparam("end", type_=Date))
    with wh.engine.connect() as conn:
        return pd.read_sql_query(stmt, conn, params={"role": CHAMPION_ROLE, "start": start,
                                                     "end": end})


def role_scores_between(wh: Warehouse, role: str, start: date, end: date) -> pd.DataFrame:
    """application_id, business_date, model_version and pd of the scores of one role (e.g. an
    auxiliary family's, "epd") with business dates in [start, end]."""
    stmt = text("SELECT application_id, business_date, model_version, pd FROM scores "
                "WHERE role = :role AND business_date >= :start AND business_date <= :end"
                ).bindparams(bindparam("start", type_=Date), bindparam("end", type_=Date))
    with wh.engine.connect() as conn:
        return pd.read_sql_query(stmt, conn, params={"role": role, "start": start, "end": end})


_TOKENS_SQL = text("""
SELECT a.business_date, COUNT(*), MIN(a.batch_id), MAX(a.batch_id),
       MAX((SELECT MAX(v.validated_at) FROM validation_results AS v
            WHERE v.batch_id = a.batch_id))
FROM applications AS a
WHERE a.business_date >= :s AND a.business_date <= :e
GROUP BY a.business_date
""").bindparams(bindparam("s", type_=Date), bindparam("e", type_=Date))


def application_tokens(wh: Warehouse, start: date, end: date) -> dict[date, tuple[Hashable, ...]]:
    """Per business date in [start, end]: its row count, first and last batch id and the latest
    validation time of those batches (what changes when a date's applications change)."""
    with wh.engine.connect() as conn:
        rows = conn.execute(_TOKENS_SQL, {"s": start, "e": end}).all()
    return {pd.Timestamp(r[0]).date(): tuple(str(v) for v in r[1:]) for r in rows}


# ---------------------------------------------------------------------------------------------
# monitoring_metrics


def write_metrics(wh: Warehouse, business_date: date, metrics: pd.DataFrame) -> int:
    """Replace the day's rows in one transaction: a rerun leaves exactly this run's metrics."""
    stmt = text("DELETE FROM monitoring_metrics WHERE business_date = :d").bindparams(
        bindparam("d", type_=Date))
    with wh.begin() as conn:
        conn.execute(stmt, {"d": business_date})
        return wh.upsert("monitoring_metrics", metrics, conn=conn)


def metric_history(wh: Warehouse, metrics: Sequence[str], segment: str, until: date,
                   days: int = 365) -> pd.DataFrame:
    """Rows of the named metrics (SQL LIKE patterns, e.g. ``csi.%``) for one segment over the
    ``days`` before ``until`` (inclusive)."""
    like = " OR ".join(f"metric LIKE :m{i}" for i in range(len(metrics)))
    stmt = text("SELECT business_date, metric, value, band FROM monitoring_metrics "
                f"WHERE ({like}) AND segment = :s AND business_date <= :u "
                "AND business_date > :lo ORDER BY business_date").bindparams(
        bindparam("u", type_=Date), bindparam("lo", type_=Date))
    params: dict[str, Any] = {f"m{i}": m for i, m in enumerate(metrics)}
    params.update({"s": segment, "u": until, "lo": until - timedelta(days=days)})
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params=params)
    df["business_date"] = pd.to_datetime(df["business_date"], format="mixed")
    return df


def metric_recorded(wh: Warehouse, metric: str, since: date, before: date) -> bool:
    """Whether ``metric`` has a row on a date in [since, before)."""
    return wh.count("monitoring_metrics", "metric = :m AND business_date >= :a "
                    "AND business_date < :b", {"m": metric, "a": since, "b": before}) > 0


# ---------------------------------------------------------------------------------------------
# run_manifest: the monitoring run and the retrain trigger


def write_monitor_manifest(wh: Warehouse, business_date: date, model_version: str,
                           counts: dict[str, Any], details: dict[str, Any]) -> None:
    """The completed monitoring run of a date (run id ``monitor-<date>``, replaced on rerun)."""
    now = _now()
    wh.upsert("run_manifest", pd.DataFrame([{
        "run_id": f"monitor-{business_date.isoformat()}", "kind": "monitor",
        "business_date": business_date, "status": "completed",
        "model_version": model_version, "counts": json.dumps(counts),
        "details": json.dumps(details, default=str), "started_at": now, "finished_at": now}]))


def manifest_status(wh: Warehouse, run_id: str) -> dict[str, Any] | None:
    """status and details of one run_manifest row, None when there is none."""
    stmt = text("SELECT status, details FROM run_manifest WHERE run_id = :r")
    with wh.engine.connect() as conn:
        row = conn.execute(stmt, {"r": run_id}).mappings().first()
    return dict(row) if row else None


def last_run_between(wh: Warehouse, kind: str, status: str, after: date,
                     before: date) -> date | None:
    """The latest business date in (after, before) with a ``kind`` run in ``status``."""
    stmt = text("SELECT MAX(business_date) FROM run_manifest WHERE kind = :k AND status = :s "
                "AND business_date > :lo AND business_date < :d").bindparams(
        bindparam("lo", type_=Date), bindparam("d", type_=Date))
    params = {"k": kind, "s": status, "d": before, "lo": after}
    with wh.engine.connect() as conn:
        value = conn.execute(stmt, params).scalar_one()
    return None if value is None else pd.Timestamp(value).date()


def latest_decision(wh: Warehouse, kind: str, status: str, model_version: str,
                    on_or_before: date) -> dict[str, Any] | None:
    """The latest ``kind`` row in ``status`` for ``model_version`` on or before a date:
    {"run_id", "business_date", "details"} (details parsed), or None."""
    stmt = text("SELECT run_id, business_date, details FROM run_manifest WHERE kind = :k "
                "AND status = :s AND model_version = :v AND business_date <= :d "
                "ORDER BY business_date DESC, run_id DESC").bindparams(bindparam("d", type_=Date))
    params = {"k": kind, "s": status, "v": str(model_version), "d": on_or_before}
    with wh.engine.connect() as conn:
        row = conn.execute(stmt, params).first()
    if row is None:
        return None
    return {"run_id": row[0], "business_date": pd.Timestamp(row[1]).date(),
            "details": json.loads(row[2] or "{}")}


def write_decision(wh: Warehouse, run_id: str, kind: str, business_date: date, status: str,
                   model_version: str | None, details: dict[str, Any]) -> None:
    """Upsert a decision's run_manifest row (no counts; started and finished now)."""
    now = _now()
    wh.upsert("run_manifest", pd.DataFrame([{
        "run_id": run_id, "kind": kind, "business_date": business_date, "status": status,
        "model_version": model_version, "counts": None,
        "details": json.dumps(details, default=str), "started_at": now, "finished_at": now}]))


def set_manifest_details(wh: Warehouse, run_id: str, details: dict[str, Any]) -> None:
    stmt = text("UPDATE run_manifest SET details = :d WHERE run_id = :r")
    with wh.engine.begin() as conn:
        conn.execute(stmt, {"d": json.dumps(details, default=str), "r": run_id})


# ---------------------------------------------------------------------------------------------
# the repayment tape, aggregated by the database (a few hundred rows back, never the whole tape)

# The next month end is passed in as a CASE over the few months asked for, so the second copy of
# the tape is reached by an exact primary-key seek (loan_id, as_of_month) on every dialect.
_TRANSITIONS_SQL = """
SELECT a.as_of_month AS as_of_month, a.dpd_bucket AS from_bucket, b.dpd_bucket AS to_bucket,
       COUNT(*) AS loans
FROM repayments AS a
JOIN repayments AS b
  ON b.loan_id = a.loan_id AND b.as_of_month = CASE a.as_of_month {cases} END
WHERE a.status = 'open' AND a.as_of_month >= :start AND a.as_of_month <= :end
GROUP BY a.as_of_month, a.dpd_bucket, b.dpd_bucket
"""


def tape_transitions(wh: Warehouse, froms: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Open loans per (month end t in ``froms``, bucket at t, bucket at the next month end):
    columns as_of_month, from_bucket, to_bucket, loans."""
    cases = " ".join(f"WHEN :f{i} THEN :t{i}" for i in range(len(froms)))
    params: dict[str, date] = {"start": froms[0].date(), "end": froms[-1].date()}
    for i, m in enumerate(froms):
        params[f"f{i}"], params[f"t{i}"] = m.date(), (m + pd.offsets.MonthEnd(1)).date()
    stmt = text(_TRANSITIONS_SQL.format(cases=cases)).bindparams(
        *(bindparam(k, type_=Date) for k in params))
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params=params)
    df["as_of_month"] = pd.to_datetime(df["as_of_month"], format="mixed")
    df["loans"] = df["loans"].astype("int64")
    return df


_VINTAGE_SQL = """
SELECT l.origination_date AS origination_date, t.first_bad_mob AS first_bad_mob,
       COUNT(*) AS loans
FROM loans AS l
LEFT JOIN (
    SELECT r.loan_id, MIN(r.months_on_book) AS first_bad_mob
    FROM repayments AS r
    WHERE r.as_of_month >= :start AND r.as_of_month <= :as_of AND r.dpd_bucket IN :bad
    GROUP BY r.loan_id
) AS t ON t.loan_id = l.loan_id
WHERE l.origination_date >= :start AND l.origination_date <= :as_of
GROUP BY l.origination_date, t.first_bad_mob
"""


def tape_vintage_counts(wh: Warehouse, start: date, last: date,
                        bad_buckets: Sequence[str]) -> pd.DataFrame:
    """Loans originated in [start, last] per (origination_date, month on book of the first tape
    row in ``bad_buckets`` up to ``last``; NaN = not bad yet)."""
    stmt = text(_VINTAGE_SQL).bindparams(bindparam("start", type_=Date),
                                         bindparam("as_of", type_=Date),
                                         bindparam("bad", expanding=True))
    params = {"start": start, "as_of": last, "bad": list(bad_buckets)}
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params=params)
    df["origination_date"] = pd.to_datetime(df["origination_date"], format="mixed")
    df["first_bad_mob"] = pd.to_numeric(df["first_bad_mob"], errors="coerce")
    df["loans"] = df["loans"].astype("int64")
    return df


# Driven from the loans booked in the few months that can be at months on book <= mob in the
# window (origination_date is indexed), so only their first tape rows are read.
_ED_SQL = """
WITH young AS (
    SELECT loan_id, dealer_id FROM loans
    WHERE origination_date >= :orig_start AND origination_date <= :end
),
early AS (
    SELECT r.loan_id AS loan_id, r.as_of_month AS as_of_month, r.months_on_book AS mob,
           r.dpd_bucket AS dpd_bucket, y.dealer_id AS dealer_id
    FROM young AS y JOIN repayments AS r ON r.loan_id = y.loan_id
    WHERE r.months_on_book <= :mob AND r.as_of_month <= :end
),
ev AS (
    SELECT loan_id, MIN(mob) AS first_ev FROM early WHERE dpd_bucket IN :events GROUP BY loan_id
)
SELECT e.as_of_month AS as_of_month, e.mob AS mob, e.dealer_id AS dealer_id,
       SUM(CASE WHEN ev.first_ev = e.mob THEN 1 ELSE 0 END) AS events, COUNT(*) AS at_risk
FROM early AS e LEFT JOIN ev ON ev.loan_id = e.loan_id
WHERE e.as_of_month >= :start AND (ev.first_ev IS NULL OR e.mob <= ev.first_ev)
GROUP BY e.as_of_month, e.mob, e.dealer_id
"""


def tape_early_delinquency(wh: Warehouse, orig_start: date, start: date, end: date, mob: int,
                           events: Sequence[str]) -> pd.DataFrame:
    """Events (a loan's first row in ``events``) and loan-months at risk per (month end in
    [start, end], month on book <= mob, dealer), for loans booked from ``orig_start``."""
    stmt = text(_ED_SQL).bindparams(*(bindparam(k, type_=Date)
                                      for k in ("orig_start", "start", "end")),
                                    bindparam("events", expanding=True))
    params = {"mob": mob, "orig_start": orig_start, "start": start, "end": end,
              "events": list(events)}
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params=params)
    df["as_of_month"] = pd.to_datetime(df["as_of_month"], format="mixed")
    for col in ("mob", "events", "at_risk"):
        df[col] = df[col].astype("int64")
    return df
