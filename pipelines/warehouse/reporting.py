"""The periodic risk report's statements: what the book did in a period [start, end] of
business dates (volume, decisions, score histogram), the monitoring rows of the period's last
monitored date, the alerts and retrain triggers raised in it, the promotion history and the
data-quality summary of the period's batches.

Every value is a bound parameter; the statements are fixed text.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Date, bindparam, text

from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.monitoring import CHAMPION_ROLE


def _read(wh: Warehouse, sql: str, start: date, end: date, **params: object) -> pd.DataFrame:
    stmt = text(sql).bindparams(bindparam("s", type_=Date), bindparam("e", type_=Date))
    with wh.engine.connect() as conn:
        return pd.read_sql_query(stmt, conn, params={"s": start, "e": end, **params})


def daily_volume(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """business_date, applications and champion decisions (approve, review, decline) per day."""
    apps = _read(wh, "SELECT business_date, COUNT(*) AS applications FROM applications "
                     "WHERE business_date >= :s AND business_date <= :e GROUP BY business_date",
                 start, end)
    decisions = _read(wh, "SELECT business_date, decision, COUNT(*) AS n FROM scores "
                          "WHERE role = :role AND business_date >= :s AND business_date <= :e "
                          "GROUP BY business_date, decision", start, end, role=CHAMPION_ROLE)
    for frame in (apps, decisions):
        frame["business_date"] = pd.to_datetime(frame["business_date"], format="mixed")
    wide = decisions.pivot_table(index="business_date", columns="decision", values="n",
                                 aggfunc="sum", fill_value=0)
    out = apps.set_index("business_date").join(wide, how="outer").fillna(0).astype(int)
    for column in ("approve", "review", "decline"):
        if column not in out.columns:
            out[column] = 0
    return out.sort_index().reset_index()


def score_counts(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """points (the champion's score rounded to a whole point) and n: the period's score
    distribution, counted in the database so a month of a large book stays a few hundred rows."""
    return _read(wh, "SELECT ROUND(score) AS points, COUNT(*) AS n FROM scores "
                     "WHERE role = :role AND business_date >= :s AND business_date <= :e "
                     "GROUP BY ROUND(score) ORDER BY points", start, end, role=CHAMPION_ROLE)


def latest_metrics(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """Every monitoring_metrics row (all segments, with details) of the last date in
    [start, end] that was monitored; empty when none was."""
    frame = _read(wh, "SELECT business_date, metric, segment, value, band, window_start, "
                      "window_end, details FROM monitoring_metrics WHERE business_date = "
                      "(SELECT MAX(business_date) FROM monitoring_metrics "
                      "WHERE business_date >= :s AND business_date <= :e)", start, end)
    frame["business_date"] = pd.to_datetime(frame["business_date"], format="mixed")
    return frame


def metric_series(wh: Warehouse, start: date, end: date, metrics: list[str]) -> pd.DataFrame:
    """business_date, metric, segment, value and band of the named metrics in [start, end]."""
    names = ", ".join(f":m{i}" for i in range(len(metrics)))
    frame = _read(wh, "SELECT business_date, metric, segment, value, band FROM "
                      f"monitoring_metrics WHERE metric IN ({names}) AND business_date >= :s "
                      "AND business_date <= :e ORDER BY business_date", start, end,
                  **{f"m{i}": m for i, m in enumerate(metrics)})
    frame["business_date"] = pd.to_datetime(frame["business_date"], format="mixed")
    return frame


def alerts_between(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """The alerts raised for business dates in [start, end], oldest first."""
    frame = _read(wh, "SELECT business_date, condition_key, severity, message, delivered, "
                      "suppressed FROM alerts WHERE business_date >= :s AND business_date <= :e "
                      "ORDER BY business_date, id", start, end)
    frame["business_date"] = pd.to_datetime(frame["business_date"], format="mixed")
    return frame


def retrain_triggers(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """business_date, status, model_version, details and started_at (when it was decided) of
    the retrain-policy decisions."""
    frame = _read(wh, "SELECT business_date, status, model_version, details, started_at "
                      "FROM run_manifest "
                      "WHERE kind = 'retrain_trigger' AND business_date >= :s "
                      "AND business_date <= :e ORDER BY business_date", start, end)
    frame["business_date"] = pd.to_datetime(frame["business_date"], format="mixed")
    return frame


def promotion_history(wh: Warehouse) -> pd.DataFrame:
    """Every promotion decision on record, oldest first (the full history: a decision's
    wall-clock time says nothing about the business dates it followed)."""
    return wh.read("promotion_audit", columns=["id", "model_name", "challenger_version",
                                                "champion_version", "decision", "triggered_by",
                                                "decided_at"], order_by="id")


_PERIOD_BATCHES = """
SELECT batch_id FROM applications WHERE business_date >= :s AND business_date <= :e
UNION SELECT batch_id FROM loans WHERE origination_date >= :s AND origination_date <= :e
UNION SELECT batch_id FROM repayments WHERE as_of_month >= :s AND as_of_month <= :e
"""


def quarantine_by_rule(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """kind, rule, column_name and rows quarantined, over the batches that loaded the period's
    applications, loans and tape months."""
    return _read(wh, "SELECT kind, rule, column_name, COUNT(*) AS rows_quarantined "
                     f"FROM quarantine WHERE batch_id IN ({_PERIOD_BATCHES}) "
                     "GROUP BY kind, rule, column_name ORDER BY rows_quarantined DESC, kind, "
                     "rule", start, end)


def validation_between(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """suite, status, batches and rows in/passed/quarantined of the period's batches."""
    return _read(wh, "SELECT suite, status, COUNT(*) AS batches, SUM(rows_in) AS rows_in, "
                     "SUM(rows_passed) AS rows_passed, SUM(rows_quarantined) AS "
                     "rows_quarantined FROM validation_results WHERE batch_id IN "
                     f"({_PERIOD_BATCHES}) GROUP BY suite, status ORDER BY suite, status",
                 start, end)
