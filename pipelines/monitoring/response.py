"""What was done about each alert of a period, for the risk report: how it was delivered (or
why not), and what the retrain policy did that day with the promotion decision that followed."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from pipelines.warehouse import reporting as R
from pipelines.warehouse.engine import Warehouse


def alert_responses(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """One row per alert raised for a business date in [start, end]: date, condition,
    severity, delivery, response and the message."""
    alerts = R.alerts_between(wh, start, end)
    triggers = R.retrain_triggers(wh, start, end)
    promotions = R.promotion_history(wh)
    by_day = {row.business_date.date(): _policy_response(row, promotions)
              for row in triggers.itertuples()}
    rows = []
    for a in alerts.itertuples():
        day = a.business_date.date()
        rows.append({"business date": day.isoformat(), "condition": a.condition_key,
                     "severity": a.severity, "delivery": _delivery(a),
                     "response": by_day.get(day, "no retraining decision recorded"),
                     "message": a.message})
    return pd.DataFrame(rows, columns=["business date", "condition", "severity", "delivery",
                                       "response", "message"])


def _delivery(alert: object) -> str:
    if alert.suppressed:
        return "suppressed: the same condition alerted within the cool-down"
    if alert.delivered:
        return f"delivered to {alert.delivered} receiver(s)"
    return "stored; no receiver reached"


def _policy_response(trigger: object, promotions: pd.DataFrame) -> str:
    details = json.loads(trigger.details) if isinstance(trigger.details, str) else {}
    if trigger.status != "triggered":
        cooldown = details.get("cooldown_from")
        return (f"no retraining: cool-down since {cooldown}" if trigger.status == "suppressed"
                and cooldown else f"no retraining ({trigger.status})")
    text = "retraining triggered: " + "; ".join(details.get("reasons", []))
    after = promotions[pd.to_datetime(promotions["decided_at"]) >= pd.Timestamp(
        trigger.started_at)]
    if len(after):
        first = after.iloc[0]
        text += (f"; then challenger v{first['challenger_version']} "
                 f"{first['decision']} (champion was v{first['champion_version']})")
    return text
