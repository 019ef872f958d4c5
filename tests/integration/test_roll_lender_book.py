"""The collections roll-forward family on a book not shaped like the simulator: a lender's loans
and tape in its own columns and words (``CURR``/``30``/.../``CO``, ``ACT``/``PIF``/``CHGOFF``/
``REPO``, ``tests.books``), no vehicle, dealer or bureau columns. It trains by the one training
sequence under its own registered name and experiment, is judged by the same promotion, and
builds the month's queue in the warehouse's words."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from features.roll import DELINQUENT_BUCKETS
from models.registry import CHAMPION, aliases, version_info
from pipelines.core.families import family_settings
from pipelines.core.settings import Settings
from pipelines.promotion.apply import promote_challenger
from pipelines.scoring.collections import build_collections_queue
from pipelines.simulation.simulate import simulate_book
from pipelines.training.train import train_model
from pipelines.warehouse.collections import read_queue
from pipelines.warehouse.engine import Warehouse
from tests.books import TAPE_BUCKETS, ingest_book, non_auto_book


def test_roll_family_on_a_lender_tape_in_its_own_words(sqlite_wh: Warehouse, home: Path,
                                                        tmp_path: Path) -> None:
    book = simulate_book(6_000, date(2022, 1, 1), date(2024, 6, 30), seed=7)
    lender = non_auto_book(book, tmp_path, tape=True)
    assert set(pd.read_csv(lender.files["repayments"])["Bucket"].astype(str)) <= set(
        TAPE_BUCKETS.values())
    settings = Settings(
        training={"train_months": 12, "n_estimators": 120, "early_stopping_rounds": 20},
        # a small book: the loop is under test here, not the gates' margins
        promotion={"max_mean_pd_gap": 0.5, "min_baseline_auc_uplift": -0.2},
        collections={"max_ece": 0.2})
    ingest_book(sqlite_wh, lender, settings)
    roll = family_settings(settings, "roll")
    result = train_model(roll, sqlite_wh, triggered_by="test", target="roll")
    assert result.model_name == "creditflow-roll"
    assert result.counts["oot"]["rows"] > 0 and result.counts["oot"]["bads"] > 0
    info = version_info(settings.tracking_uri, "creditflow-roll", result.version)
    assert info["tags"]["target"] == "roll"
    client = MlflowClient(settings.tracking_uri)
    run = client.get_run(info["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "creditflow-roll"
    assert run.info.run_name.startswith("roll-train ")
    assert "oot_auc" in run.data.metrics and "baseline_oot_auc" in run.data.metrics
    # no vehicle, no bureau on this book: those origination figures are left out, by name
    assert {"bureau_score", "ltv", "pti", "delinquencies_2y"} <= set(
        run.data.params["features_dropped"].split(","))
    assert "challenger" not in aliases(settings.tracking_uri, "creditflow-pd")

    decision = promote_challenger(roll, sqlite_wh, triggered_by="test")
    assert decision.window["target"] == "roll" and decision.window["end"] == "2024-05-31"
    assert {r.name for r in decision.rules} >= {"beats_baseline", "ece_bound"}
    assert decision.verdict == "promoted", decision.reasons
    assert aliases(settings.tracking_uri, "creditflow-roll")[CHAMPION] == result.version

    out = build_collections_queue(settings, sqlite_wh)
    assert out["month_end"] == "2024-06-30" and out["version"] == result.version
    queue = read_queue(sqlite_wh, date(2024, 6, 30))
    tape = book.repayments[book.repayments["as_of_month"] == pd.Timestamp("2024-06-30")]
    open_delinquent = tape[(tape["status"] == "open")
                           & tape["dpd_bucket"].isin(DELINQUENT_BUCKETS)]
    assert sorted(queue["loan_id"]) == sorted(open_delinquent["loan_id"])
    assert set(queue["dpd_bucket"]) <= set(DELINQUENT_BUCKETS)
    assert queue["roll_probability"].between(0, 1).all()
