"""Whole-book reads: row counts and date ranges of the main tables, the newest business date,
whether a warehouse holds applications, and the daily outcomes the demo's week table sums up.

Every value is a bound parameter; the date ranges are SQLAlchemy expressions on the schema's
tables, so no name is pasted into SQL text.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, inspect, select

from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse

# (table, its business-date column or None): what a newcomer checks first
SPANS = (("applications", "business_date"), ("loans", "origination_date"),
         ("repayments", "as_of_month"), ("scores", "business_date"), ("quarantine", None))


def table_summary(wh: Warehouse) -> dict[str, Any]:
    """Row count of each table in ``SPANS`` and, for a table with rows, its first and last
    date (``<table>_dates``)."""
    out: dict[str, Any] = {}
    for name, date_col in SPANS:
        out[name] = wh.count(name)
        if date_col and out[name]:
            col = schema.metadata.tables[name].c[date_col]
            with wh.engine.connect() as conn:
                span = conn.execute(select(func.min(col), func.max(col))).one()
            out[f"{name}_dates"] = [str(pd.Timestamp(v).date()) for v in span]
    return out


def loans_ever_90_plus(wh: Warehouse) -> int:
    """Loans that reached 90+ days past due or charge-off on any tape."""
    bad = wh.execute("SELECT COUNT(DISTINCT loan_id) FROM repayments "
                     "WHERE dpd_bucket IN ('90+', 'charge-off')").scalar_one()
    return int(bad)


def latest_business_date(wh: Warehouse, conn: Connection | None = None) -> date | None:
    """The newest business date of an application (None in an empty warehouse); ``conn``
    reads inside a caller's transaction (scoring, under the date's lock)."""
    latest = wh.execute("SELECT MAX(business_date) FROM applications", conn=conn).scalar_one()
    return None if latest is None else pd.Timestamp(latest).date()


def holds_applications(wh: Warehouse) -> bool:
    """Whether the database has an applications table with rows. Looked at, not migrated: a
    check must not change a database it may refuse."""
    return inspect(wh.engine).has_table("applications") and wh.count("applications") > 0


def champion_day_scores(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """business_date, pd, decision, model_version, holdout and first reason code of the
    champion's scores in [start, end]."""
    return wh.read("scores", "role = 'champion' AND business_date BETWEEN :a AND :b",
                   {"a": start, "b": end},
                   columns=["business_date", "pd", "decision", "model_version", "holdout",
                            "reason_1"])


def score_psi_by_day(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """business_date and value of the whole-book score PSI recorded in [start, end]."""
    return metric_by_day(wh, "score_psi", start, end)


def metric_by_day(wh: Warehouse, metric: str, start: date, end: date) -> pd.DataFrame:
    """business_date and value of a whole-book monitoring metric recorded in [start, end]."""
    return wh.read("monitoring_metrics", "metric = :m AND segment = 'all' AND "
                   "business_date BETWEEN :a AND :b", {"m": metric, "a": start, "b": end},
                   columns=["business_date", "value"])


def queue_sizes(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """month_end and loans of the collections queues of month ends in [start, end]."""
    return wh.read("collections_queue", "month_end BETWEEN :a AND :b", {"a": start, "b": end},
                   columns=["month_end", "loan_id"]).groupby("month_end", as_index=False).agg(
        loans=("loan_id", "size"))


def alerts_by_day(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """business_date, condition_key and suppressed of the alerts raised in [start, end]."""
    return wh.read("alerts", "business_date BETWEEN :a AND :b", {"a": start, "b": end},
                   columns=["business_date", "condition_key", "suppressed"])


def responses_by_day(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """business_date, kind, status and details of the drift responses in [start, end]: the
    policy's triggers (``retrain_trigger``) and accepted reference resets."""
    return wh.read("run_manifest", "kind IN ('retrain_trigger', 'reference_reset') "
                   "AND business_date BETWEEN :a AND :b", {"a": start, "b": end},
                   columns=["business_date", "kind", "status", "details"],
                   order_by="business_date")
