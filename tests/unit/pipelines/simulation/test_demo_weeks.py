"""The demo's week table: the lender's automation figures beside volume and approval."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from pipelines.simulation.demo import DemoPlan, weekly_table
from pipelines.warehouse.collections import write_queue
from pipelines.warehouse.engine import Warehouse


def test_the_week_table_shows_the_share_decided_automatically_and_the_review_queue(
        sqlite_wh: Warehouse) -> None:
    plan = DemoPlan(days=14, demo_start=date(2025, 7, 1))
    decisions = (["approve"] * 6 + ["review"] * 3 + ["decline"]) * 2  # two days of week one
    days = [date(2025, 7, 1)] * 10 + [date(2025, 7, 2)] * 10
    sqlite_wh.upsert("scores", pd.DataFrame({
        "application_id": [f"A{i}" for i in range(20)], "model_version": "1",
        "role": "champion", "model_name": "creditflow-pd", "business_date": days,
        "pd": 0.05, "score": 580.0, "decision": decisions, "run_id": "r",
        "scored_at": datetime(2025, 7, 2),
        "reason_1": [("EPD_HIGH" if i in (6, 7) else "R01") for i in range(20)]}))
    week = weekly_table(sqlite_wh, plan, ("EPD_HIGH",)).iloc[0]
    assert (week["volume"], week["approval_rate"]) == (20, 0.6)
    assert week["auto_decided"] == 0.7  # approved or declined without a person
    assert week["review_per_day"] == 3.0  # six reviews over two business days
    assert week["epd_review"] == 2  # moved to review by the early-payment-default rule


def test_the_week_table_shows_the_auxiliary_models_figures(sqlite_wh: Warehouse) -> None:
    plan = DemoPlan(days=31, demo_start=date(2025, 7, 1))
    sqlite_wh.upsert("scores", pd.DataFrame({
        "application_id": ["A1", "A2", "A3"], "model_version": "1", "role": "champion",
        "model_name": "creditflow-pd",
        "business_date": [date(2025, 7, 1), date(2025, 7, 8), date(2025, 7, 31)],
        "pd": 0.05, "score": 580.0, "decision": "approve", "run_id": "r",
        "scored_at": datetime(2025, 7, 8), "reason_1": None}))
    sqlite_wh.upsert("monitoring_metrics", pd.DataFrame({
        "business_date": [date(2025, 7, 2), date(2025, 7, 6), date(2025, 7, 3),
                          date(2025, 7, 4)],
        "metric": ["roll_forward_auc", "roll_forward_auc", "epd_score_psi", "epd_score_psi"],
        "segment": "all", "value": [0.71, 0.74, 0.02, 0.05]}))
    write_queue(sqlite_wh, date(2025, 7, 31), pd.DataFrame({  # built in the fifth week
        "queue_rank": [1, 2], "loan_id": ["L1", "L2"], "dpd_bucket": "1-30",
        "months_on_book": 3, "balance": 1000.0, "roll_probability": 0.2,
        "expected_loss": 90.0, "stage": "soft_contact", "model_name": "creditflow-roll",
        "model_version": "1"}))
    weeks = weekly_table(sqlite_wh, plan).set_index("week_of")
    first = weeks.loc[date(2025, 7, 1)]
    assert (first["roll_auc"], first["epd_psi"], first["queue"]) == (0.74, 0.05, 0)
    assert pd.isna(weeks.loc[date(2025, 7, 8), "roll_auc"])  # none recorded that week
    assert weeks.loc[date(2025, 7, 29), "queue"] == 2
