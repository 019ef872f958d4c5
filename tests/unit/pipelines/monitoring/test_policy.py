"""The retraining policy: each rule from config, bands wired from settings, one trigger per
cool-down recorded in run_manifest, the same answer on a rerun."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from pipelines.core.settings import Settings
from pipelines.core.stage_settings import MonitoringSettings
from pipelines.monitoring.policy import decide_retrain, run_id_for
from pipelines.monitoring.retrain_rules import (
    CALIBRATION,
    CONCEPT,
    POPULATION,
    PolicyInputs,
    drift_kind,
    retrain_reasons,
)
from pipelines.warehouse.engine import Warehouse

CFG = MonitoringSettings()
DAY = date(2024, 9, 2)


@pytest.mark.parametrize(("inputs", "expected"), [
    (PolicyInputs(score_psi=0.26), "score PSI 0.260 above the shift band"),
    (PolicyInputs(drifted_share=0.35), "drifted feature share 35% above 30%"),
    (PolicyInputs(estimated_auc=0.69, reference_estimated_auc=0.75),
     "estimated AUC 0.690 below the same estimate on the champion's reference 0.750"),
    (PolicyInputs(realised_auc=0.68, realised_vintage="2023-07", oot_auc=0.75),
     "realised AUC 0.680 (vintage 2023-07)"),
    (PolicyInputs(roll_rate_alerts=["1-30"]), "roll rate alert from 1-30"),
    (PolicyInputs(early_delinquency_alert=True, early_delinquency_ratio=1.6),
     "portfolio early delinquency alert (x1.60"),
    (PolicyInputs(bad_rate_alerts=["2023-08"]), "realised bad rate above predicted"),
    (PolicyInputs(early_bad_rate_alerts=["2024-02"]), "early-performance bad rate above"),
    (PolicyInputs(early_auc=0.66, early_vintage="2024-02", oot_auc=0.75),
     "early-performance AUC 0.660 (vintage 2024-02)"),
])
def test_each_rule_fires_alone(inputs: PolicyInputs, expected: str) -> None:
    reasons = retrain_reasons(inputs, CFG)
    assert len(reasons) == 1 and expected in reasons[0]


def test_nothing_fires_at_or_inside_the_thresholds() -> None:
    quiet = PolicyInputs(score_psi=0.25, drifted_share=0.30, estimated_auc=0.70,
                         reference_estimated_auc=0.75, realised_auc=0.701, oot_auc=0.75,
                         early_delinquency_ratio=1.9, early_delinquency_alert=False)
    assert retrain_reasons(quiet, CFG) == []
    assert retrain_reasons(PolicyInputs(estimated_auc=0.5), CFG) == []  # no reference: no rule
    # like for like: an estimate on every application is not judged against the OOT AUC of
    # booked loans (another population): only the reference estimate counts
    other = PolicyInputs(estimated_auc=0.66, reference_estimated_auc=0.69, oot_auc=0.75)
    assert retrain_reasons(other, CFG) == []
    assert retrain_reasons(PolicyInputs(score_psi=float("nan")), CFG) == []


def test_bands_come_from_settings() -> None:
    strict = MonitoringSettings(psi_bands=(0.05, 0.12), drift_share_threshold=0.1, auc_margin=0.01)
    inputs = PolicyInputs(score_psi=0.15, drifted_share=0.2, estimated_auc=0.735,
                          reference_estimated_auc=0.75)
    assert retrain_reasons(inputs, CFG) == []
    assert len(retrain_reasons(inputs, strict)) == 3


def test_cooldown_fires_once_per_episode_and_survives_restarts(settings: Settings,
                                                               any_wh: Warehouse) -> None:
    # calibration drift: a challenger (the roll-rate alert rides along as a reason)
    drift = PolicyInputs(early_bad_rate_alerts=["2024-02"], roll_rate_alerts=["1-30"])
    first = decide_retrain(settings, any_wh, DAY, drift, "3")
    assert first.fire and first.status == "triggered" and first.run_id == run_id_for(DAY)

    # A restart is a new call reading the warehouse: still inside the 30-day cool-down.
    later = decide_retrain(settings, any_wh, DAY + timedelta(days=10), drift, "3")
    assert not later.fire and later.status == "suppressed" and later.last_trigger == DAY

    # Rerunning the first day answers the same (same id: an idempotency key for the launch).
    rerun = decide_retrain(settings, any_wh, DAY, PolicyInputs(), "3")
    assert rerun.fire and rerun.run_id == first.run_id and rerun.reasons == first.reasons

    quiet = decide_retrain(settings, any_wh, DAY + timedelta(days=12), PolicyInputs(), "3")
    assert not quiet.fire and quiet.status == "quiet" and quiet.run_id is None

    again = decide_retrain(settings, any_wh, DAY + timedelta(days=30), drift, "3")
    assert again.fire  # the cool-down is over: a new episode may start
    rows = any_wh.read("run_manifest", "kind = 'retrain_trigger'", order_by="business_date")
    assert rows["status"].tolist() == ["triggered", "suppressed", "triggered"]
    details = json.loads(rows["details"].iloc[1])
    assert details["cooldown_from"] == DAY.isoformat()
    assert details["inputs"]["roll_rate_alerts"] == ["1-30"]


SHIFT = {"score_psi": 0.4, "drifted_share": 0.5}


@pytest.mark.parametrize(("inputs", "kind"), [
    (PolicyInputs(**SHIFT), POPULATION),
    (PolicyInputs(estimated_auc=0.6, reference_estimated_auc=0.75), POPULATION),
    # roll rates up with the population moved: the mix explains them, no outcome above a PD
    (PolicyInputs(**SHIFT, roll_rate_alerts=["1-30"]), POPULATION),
    (PolicyInputs(early_bad_rate_alerts=["2024-02"]), CALIBRATION),
    (PolicyInputs(bad_rate_alerts=["2023-08"], roll_rate_alerts=["1-30"]), CALIBRATION),
    (PolicyInputs(**SHIFT, bad_rate_alerts=["2023-08"], early_auc=0.66, oot_auc=0.75),
     CONCEPT),
    (PolicyInputs(realised_auc=0.6, oot_auc=0.75, roll_rate_alerts=["1-30"]), CONCEPT),
])
def test_the_kind_of_drift_picks_the_response(inputs: PolicyInputs, kind: str) -> None:
    """Ranking lost beats outcomes above the PDs, which beat a population that merely moved."""
    found = drift_kind(inputs, CFG)
    assert found is not None and found[0] == kind
    assert drift_kind(PolicyInputs(score_psi=0.2), CFG) is None


@pytest.mark.parametrize("inputs", [
    PolicyInputs(roll_rate_alerts=["current", "1-30"]),
    PolicyInputs(early_delinquency_alert=True, early_delinquency_ratio=1.6),
])
def test_roll_rates_or_early_delinquency_alone_are_no_drift_kind(inputs: PolicyInputs) -> None:
    """They measure the book against its own past, not against its loans' PDs: a younger or
    riskier book moves them as its PDs said. An alert for people, no response."""
    assert retrain_reasons(inputs, CFG) and drift_kind(inputs, CFG) is None


@pytest.mark.parametrize(("inputs", "response", "fire"), [
    (PolicyInputs(**SHIFT), "reference_reset", False),
    (PolicyInputs(early_bad_rate_alerts=["2024-02"]), "recalibration", True),
    (PolicyInputs(early_auc=0.6, early_vintage="2024-02", oot_auc=0.75), "early_retrain", True),
])
def test_the_response_is_recorded_with_its_reason(settings: Settings, sqlite_wh: Warehouse,
                                                  inputs: PolicyInputs, response: str,
                                                  fire: bool) -> None:
    decision = decide_retrain(settings, sqlite_wh, DAY, inputs, "3")
    assert (decision.response, decision.fire, decision.status) == (response, fire, "triggered")
    row = sqlite_wh.read("run_manifest", "kind = 'retrain_trigger'")
    details = json.loads(row["details"].iloc[0])
    assert details["response"] == response and details["kind"] == decision.kind
    assert details["why"].startswith(("the population moved", "outcomes worse", "the ranking"))
    rerun = decide_retrain(settings, sqlite_wh, DAY, PolicyInputs(), "3")
    assert (rerun.response, rerun.fire) == (response, fire)
