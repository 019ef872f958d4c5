"""The monthly collections queue on a constructed tape, on SQLite and PostgreSQL: ordered by
expected loss, staged by the configured rules, idempotent per month end (a rerun, and a rerun
after the next month's tape and a late row arrived, leave the same rows); and the roll-forward
model judged against the next month's tape (realised roll rate per predicted decile, AUC)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from features.roll import BUCKET_RANK, FEATURE_NAMES
from models.calibration import Calibrator
from models.collections import judge_roll_forward
from models.pd_model import PDModel
from pipelines.champion import Champion
from pipelines.core.settings import Settings
from pipelines.monitoring.auxiliary import record_roll_forward
from pipelines.monitoring.auxiliary_page import auxiliary_section
from pipelines.monitoring.context import MetricRows
from pipelines.scoring.collections import build_collections_queue
from pipelines.training.rollset import roll_rows
from pipelines.warehouse.collections import read_queue, write_queue
from pipelines.warehouse.engine import Warehouse

MONTHS = list(pd.date_range("2024-01-31", "2024-06-30", freq="ME"))
BUCKETS = list(BUCKET_RANK)
N_LOANS = 120


def _book(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Loans booked in December 2023 and a tape January..June 2024: each month a loan stays,
    cures one bucket or rolls one (more likely once behind, and for the larger loans)."""
    rng = np.random.default_rng(seed)
    amount = rng.uniform(5_000, 40_000, N_LOANS).round(2)
    loans = pd.DataFrame({"loan_id": [f"L{i:03d}" for i in range(N_LOANS)],
                          "application_id": [f"A{i:03d}" for i in range(N_LOANS)],
                          "origination_date": date(2023, 12, 15), "dealer_id": "D1",
                          "loan_amount": amount, "term_months": 60, "interest_rate": 0.09,
                          "monthly_payment": (amount / 50).round(2), "batch_id": "test"})
    rows, rank = [], np.zeros(N_LOANS, dtype=int)
    for k, month in enumerate(MONTHS):
        p_roll = np.where(rank > 0, 0.35, 0.12) + 0.2 * (amount > 25_000)
        move = np.where(rng.random(N_LOANS) < p_roll, 1,
                        np.where(rng.random(N_LOANS) < 0.3, -1, 0))
        rank = np.clip(rank + move, 0, 4)
        rows.append(pd.DataFrame({
            "loan_id": loans["loan_id"], "as_of_month": month.date(), "months_on_book": k + 1,
            "dpd_bucket": [BUCKETS[r] for r in rank],
            "balance": (amount * (1 - 0.015 * (k + 1))).round(2), "status": "open",
            "known_at": None, "batch_id": "test"}))
    return loans, pd.concat(rows, ignore_index=True)


def _champion(settings: Settings, wh: Warehouse) -> Champion:
    """A small booster fitted on February..April's rows, calibrated on them (the arithmetic
    under test is the queue's, not the model's)."""
    X, y = roll_rows(settings, wh, date(2024, 2, 1), date(2024, 4, 30), date(2024, 5, 31))
    X, y = X.loc[y.notna(), FEATURE_NAMES], y[y.notna()].to_numpy()
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "seed": 0},
                        xgb.DMatrix(X, y), num_boost_round=5)
    calibrator = Calibrator("platt").fit(booster.inplace_predict(X), y)
    return Champion(PDModel.from_training(booster, calibrator, X, {}, {}), "creditflow-roll",
                    "7")


def test_queue_order_stages_and_idempotency(any_wh: Warehouse, settings: Settings) -> None:
    loans, tape = _book()
    any_wh.upsert("loans", loans)
    any_wh.upsert("repayments", tape[tape["as_of_month"] <= date(2024, 5, 31)])
    champion = _champion(settings, any_wh)
    may = date(2024, 5, 31)
    first = build_collections_queue(settings, any_wh, may, date(2024, 6, 5), champion)
    queue = read_queue(any_wh, may)
    open_delinquent = tape[(tape["as_of_month"] == may) & (tape["dpd_bucket"] != "current")]
    assert first["loans"] == len(queue) == len(open_delinquent) > 10
    assert set(queue["loan_id"]) == set(open_delinquent["loan_id"])
    assert queue["queue_rank"].tolist() == list(range(1, len(queue) + 1))
    assert (np.diff(queue["expected_loss"]) <= 0).all()
    lgd = settings.collections.lgd
    np.testing.assert_allclose(queue["expected_loss"],
                               queue["roll_probability"] * queue["balance"] * lgd)
    # the configured stages: 90+ legal, 61-90 field, 31-60 field from 0.5, else soft contact
    for row in queue.itertuples():
        want = ("legal" if row.dpd_bucket == "90+" else "field"
                if row.dpd_bucket == "61-90" or (row.dpd_bucket == "31-60"
                                                 and row.roll_probability >= 0.5)
                else "soft_contact")
        assert row.stage == want, row
    assert set(queue["model_version"]) == {"7"}

    # June's tape arrives, with a May row for a new loan sent along with it: May's queue,
    # rebuilt, is the same
    late = pd.DataFrame([{"loan_id": "L999", "as_of_month": may, "months_on_book": 5,
                          "dpd_bucket": "90+", "balance": 50_000.0, "status": "open",
                          "known_at": date(2024, 7, 10), "batch_id": "late"}])
    june = tape[tape["as_of_month"] == date(2024, 6, 30)].assign(known_at=date(2024, 7, 10))
    any_wh.upsert("repayments", pd.concat([june, late], ignore_index=True))
    build_collections_queue(settings, any_wh, may, date(2024, 7, 31), champion)
    build_collections_queue(settings, any_wh, may, date(2024, 7, 31), champion)
    pd.testing.assert_frame_equal(read_queue(any_wh, may), queue)


def test_roll_forward_judged_per_decile_against_the_next_tape(any_wh: Warehouse,
                                                              settings: Settings) -> None:
    loans, tape = _book(seed=5)
    any_wh.upsert("loans", loans)
    any_wh.upsert("repayments", tape)
    may, june = date(2024, 5, 31), date(2024, 6, 30)
    now = tape[tape["as_of_month"] == may].set_index("loan_id")
    nxt = tape[tape["as_of_month"] == june].set_index("loan_id")
    queued = now[now["dpd_bucket"] != "current"]
    queued = queued.iloc[: len(queued) // 10 * 10]  # ten deciles of equal size
    rolled = (nxt.loc[queued.index, "dpd_bucket"].map(BUCKET_RANK)
              > queued["dpd_bucket"].map(BUCKET_RANK)).astype(float).to_numpy()
    p = np.linspace(0.9, 0.1, len(queued))  # the queue's probabilities, as written in May
    write_queue(any_wh, may, pd.DataFrame({
        "queue_rank": np.arange(1, len(queued) + 1), "loan_id": queued.index,
        "dpd_bucket": queued["dpd_bucket"].to_numpy(),
        "months_on_book": queued["months_on_book"].to_numpy(),
        "balance": queued["balance"].to_numpy(), "roll_probability": p,
        "expected_loss": p * queued["balance"].to_numpy(), "stage": "soft_contact",
        "model_name": "creditflow-roll", "model_version": "3"}))
    ctx = type("Ctx", (), {"business_date": date(2024, 7, 1), "window_start": date(2024, 6, 17)})
    rows = MetricRows(ctx())
    judged = record_roll_forward(settings, any_wh, date(2024, 7, 1), rows)
    metrics = rows.frame().set_index(["metric", "segment"])["value"]
    assert judged["loans"] == len(queued) and judged["rolled"] == int(rolled.sum())
    assert metrics["roll_forward_realised_rate", "all"] == pytest.approx(rolled.mean())
    # by hand: p falls with the queue rank, so decile 1 is the first tenth of the rows
    for decile, idx in enumerate(np.split(np.arange(len(queued)), 10), start=1):
        assert metrics["roll_forward_decile", f"decile={decile}"] == pytest.approx(
            rolled[idx].mean())
    pos, neg = p[rolled == 1], p[rolled == 0]
    assert metrics["roll_forward_auc", "all"] == pytest.approx(
        (pos[:, None] > neg[None, :]).mean())
    assert judged["auc"] == judge_roll_forward(rolled, p)["auc"]
    # the risk report's section reads the same rows
    body = auxiliary_section(rows.frame()).body
    assert f"{len(queued):,} loans, {int(rolled.sum()):,} rolled" in body
    assert f"realised {rolled.mean():.1%}" in body and "realised roll rate" in body
