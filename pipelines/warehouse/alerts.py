"""The ``alerts`` table's statements: one row per (condition_key, business_date), claimed by
insert before anything is sent, re-claimed by compare-and-set on ``created_at``, then marked with
the receivers reached (``pipelines.monitoring.alerts`` holds the rules). Every value is a bound
parameter.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, bindparam, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse

# What any statement here raises when the warehouse cannot be reached or written: the alert
# function then delivers unrecorded, so the caller needs the type without importing SQLAlchemy.
DatabaseFailure = SQLAlchemyError

# What starts a cool-down: a delivery when receivers are configured, else any unsuppressed row.
_COOLDOWN_ANCHORS = {True: "delivered > 0", False: "suppressed = 0"}


def stored_alert(wh: Warehouse, key: str, day: date) -> dict[str, Any] | None:
    """id, severity, message, delivered, suppressed and created_at of the day's row, if any."""
    stmt = text("SELECT id, severity, message, delivered, suppressed, created_at FROM alerts "
                "WHERE condition_key = :k AND business_date = :d").bindparams(
        bindparam("d", type_=Date)).columns(created_at=DateTime)
    with wh.engine.connect() as conn:
        row = conn.execute(stmt, {"k": key, "d": day}).mappings().first()
    return dict(row) if row else None


def raised_between(wh: Warehouse, key: str, after: date, before: date,
                   anchor_on_delivered: bool) -> bool:
    """Whether ``key`` has a row in (after, before) that delivered (``anchor_on_delivered``) or
    was not suppressed."""
    anchor = _COOLDOWN_ANCHORS[anchor_on_delivered]
    stmt = text(f"SELECT COUNT(*) FROM alerts WHERE condition_key = :k AND {anchor} "
                "AND business_date > :lo AND business_date < :d").bindparams(
        bindparam("lo", type_=Date), bindparam("d", type_=Date))
    params = {"k": key, "lo": after, "d": before}
    with wh.engine.connect() as conn:
        return int(conn.execute(stmt, params).scalar_one()) > 0


def insert_alert(wh: Warehouse, row: dict[str, Any]) -> int | None:
    """Insert one alert row; its id, or None when the (condition_key, business_date) row
    exists already (another process claimed it first)."""
    try:
        with wh.begin() as conn:
            result = conn.execute(schema.alerts.insert().values(**row))
            return int(result.inserted_primary_key[0])
    except IntegrityError:
        return None


def reclaim_alert(wh: Warehouse, alert_id: int, claimed_at: datetime, now: datetime) -> bool:
    """Move an undelivered, unsuppressed row's claim time from ``claimed_at`` to ``now``; True
    only for the one caller whose compare-and-set matched."""
    c = schema.alerts.c
    stmt = schema.alerts.update().where(
        c.id == alert_id, c.delivered == 0, c.suppressed == 0,
        c.created_at == claimed_at).values(created_at=now)
    with wh.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def set_delivered(wh: Warehouse, alert_id: int, delivered: int) -> None:
    wh.execute("UPDATE alerts SET delivered = :d WHERE id = :id",
               {"d": delivered, "id": alert_id})
