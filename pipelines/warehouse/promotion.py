"""Promotion's statements: the ``promotion_audit`` trail and the shadow period's score pairs.

The audit row of a winning decision is written twice (``promoting`` before the aliases move,
completed after), so its statements take the row id the first write returned. Every value is a
bound parameter.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import text

from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.schema import promotion_audit

# The challenger's shadow score and the champion's score of the same application, paired in SQL so
# that application ids never leave the warehouse.
_SHADOW_PAIRS_SQL = """
SELECT s.score AS shadow_score, s.decision AS shadow_decision, s.business_date,
       c.score AS champion_score, c.decision AS champion_decision,
       c.model_version AS champion_version
FROM scores AS s
JOIN scores AS c
  ON c.application_id = s.application_id AND c.role = :champion
 AND c.model_name = s.model_name AND c.model_version <> s.model_version
WHERE s.role = :shadow AND s.model_name = :name AND s.model_version = :version
"""


def shadow_pairs(wh: Warehouse, model_name: str, version: str, shadow_role: str,
                 champion_role: str) -> pd.DataFrame:
    """Score and decision of ``version`` (scored in ``shadow_role``) beside those of the model
    scored in ``champion_role`` on the same applications, with the business date and the
    champion's version: no application id."""
    params = {"shadow": shadow_role, "champion": champion_role, "name": model_name,
              "version": str(version)}
    with wh.engine.connect() as conn:
        return pd.read_sql_query(text(_SHADOW_PAIRS_SQL), conn, params=params)


def insert_audit(wh: Warehouse, row: dict[str, Any]) -> int:
    """A new ``promotion_audit`` row; returns its id."""
    with wh.begin() as conn:
        return int(conn.execute(promotion_audit.insert().values(**row)).inserted_primary_key[0])


def append_audit(wh: Warehouse, row: dict[str, Any]) -> None:
    """A new ``promotion_audit`` row whose id nobody needs (a decision recorded in one write)."""
    wh.insert(promotion_audit, [row])


def complete_audit(wh: Warehouse, row_id: int, row: dict[str, Any]) -> None:
    """Overwrite the audit row ``row_id`` with the decision's outcome."""
    with wh.begin() as conn:
        conn.execute(promotion_audit.update().where(promotion_audit.c.id == row_id).values(**row))


def audit_rows_with(wh: Warehouse, model_name: str, decision: str) -> pd.DataFrame:
    """The model's audit rows whose decision is ``decision``, oldest first."""
    return wh.read("promotion_audit", where="model_name = :m AND decision = :p",
                   params={"m": model_name, "p": decision}, order_by="id")


def settle_audit(wh: Warehouse, row_id: int, was: str, decision: str, record: str) -> None:
    """Set decision and record of row ``row_id`` if its decision is still ``was`` (a live
    promotion that completed its row meanwhile keeps its own outcome)."""
    wh.execute("UPDATE promotion_audit SET decision = :v, record = :r "
               "WHERE id = :id AND decision = :p",
               {"v": decision, "r": record, "id": int(row_id), "p": was})
