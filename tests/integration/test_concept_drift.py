"""Concept drift on the trained home (scenario ``ranking_shift``): for new vintages the bureau
score's effect reverses and payment burden tells more, at the same mean PD. The
champion's ranking falls on the early-matured vintages it scored, the policy answers with a
challenger trained on the early target, whose windows hold post-drift vintages, and it ranks the
early window better than the champion."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.champion import current_champion
from pipelines.core.settings import Settings
from pipelines.monitoring.day import monitor_day
from pipelines.promotion.decide import decide
from pipelines.training.recalibrate import recalibration_window
from pipelines.training.train import train_model
from pipelines.training.trainset import data_as_of
from pipelines.warehouse.engine import Warehouse
from tests.drift_books import champion_scored, drift_outcomes

pytestmark = pytest.mark.slow

# Data date 2025-06-30: with six-month out-of-time windows (this small book has about 20 early
# bads a month) the early target's windows are training 2022-02..2024-01, early stopping
# 2024-02..03, calibration 2024-04..05 and out of time 2024-06..11; from this onset 13 of the 24
# training months and every later window are after the drift.
ONSET = date(2023, 1, 1)


def test_a_ranking_shift_is_answered_by_an_early_target_challenger(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITFLOW_TRAINING__OOT_MONTHS", "6")
    monkeypatch.setenv("CREDITFLOW_PROMOTION__OOT_MONTHS", "6")
    # monitoring pools the same six early-matured vintages (three hold about 30 early bads)
    monkeypatch.setenv("CREDITFLOW_MONITORING__REALISED_VINTAGES", "6")
    s = Settings()
    wh = Warehouse.from_settings(s)
    drift_outcomes(s, wh, "ranking_shift", ONSET)
    champion = current_champion(s)
    champion_scored(s, wh, champion, *recalibration_window(s, data_as_of(wh)))
    seen = monitor_day(s, wh, data_as_of(wh), champion.reference, champion.description,
                       plots=False)
    assert (seen.decision.kind, seen.decision.response) == ("concept_drift",
                                                            "early_retrain"), seen.decision
    assert seen.decision.fire and any("early-performance AUC" in r
                                      for r in seen.decision.reasons)

    result = train_model(s, wh, triggered_by="test: concept drift", target="early")
    assert result.windows["train"].split("..")[1] >= ONSET.isoformat()
    decision = decide(s, wh, "test: concept drift", result.version)
    assert decision.window["target"] == "early"
    auc = decision.metrics["auc"]
    assert auc["challenger"]["value"] > auc["champion"]["value"] + s.promotion.min_auc_uplift
    # beats it on evidence: the uplift and its paired-bootstrap interval, on about 70 early bads
    rules = {r.name: r.passed for r in decision.rules}
    assert rules["auc_uplift"] and rules["auc_uplift_ci_low"], decision.reasons
    assert decision.counts["bads"] >= 50
