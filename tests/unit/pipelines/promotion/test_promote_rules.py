"""Promotion rules, verdicts, intervals and the shadow summary (``models.promotion_rules``):
pure functions, no store; and the decision record they end in."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from models.promotion_rules import (
    PROMOTED,
    REFUSED,
    REJECTED,
    absolute_rules,
    approval_statistic,
    evaluate_rules,
    labelled_statistic,
    metric_table,
    paired_intervals,
    shadow_summary,
    training_overlap,
    verdict_of,
)
from pipelines.core.stage_settings import PromotionSettings
from pipelines.promotion.decision import PromotionDecision

POLICY = PromotionSettings(min_auc_uplift=0.002, ks_tolerance=0.01, brier_tolerance=0.002,
                           ece_tolerance=0.01, max_approval_rate_shift=0.05)
CHAMPION = {"auc": 0.75, "ks": 0.40, "brier": 0.050, "ece": 0.020, "approval_rate": 0.70}
GOOD_CI = {"diff": 0.02, "ci_low": 0.005, "ci_high": 0.035}


def rules_for(**changes: float) -> dict[str, bool]:
    challenger = {**CHAMPION, "auc": 0.77, **changes}
    ci = GOOD_CI if "ci_low" not in changes else {**GOOD_CI, "ci_low": changes["ci_low"]}
    return {r.name: r.passed for r in evaluate_rules(challenger, CHAMPION, ci, POLICY)}


def test_a_clear_improvement_passes_every_rule() -> None:
    assert all(rules_for().values())
    verdict, reasons = verdict_of(evaluate_rules({**CHAMPION, "auc": 0.77}, CHAMPION, GOOD_CI,
                                                 POLICY), True, [])
    assert verdict == PROMOTED and reasons == ["every rule passed"]


@pytest.mark.parametrize(("changes", "failing"), [
    ({"auc": 0.751}, "auc_uplift"),                      # uplift 0.001 < 0.002
    ({"ci_low": -0.001}, "auc_uplift_ci_low"),           # interval reaches below zero
    ({"ci_low": 0.0}, "auc_uplift_ci_low"),              # strictly above zero
    ({"ks": 0.385}, "ks_not_worse"),                     # KS drops 0.015 > 0.01
    ({"brier": 0.0525}, "brier_not_worse"),              # Brier rises 0.0025 > 0.002
    ({"ece": 0.0301}, "ece_not_worse"),                  # ECE rises 0.0101 > 0.01
    ({"approval_rate": 0.64}, "approval_rate_shift"),    # -6 points
    ({"approval_rate": 0.76}, "approval_rate_shift"),    # +6 points: either direction
    ({"auc": float("nan")}, "auc_uplift"),               # what cannot be computed cannot pass
])
def test_each_rule_fails_on_its_own(changes: dict[str, float], failing: str) -> None:
    result = rules_for(**changes)
    assert not result[failing]
    assert all(ok for name, ok in result.items() if name != failing), result


def test_boundaries_are_inclusive_where_the_policy_says_at_most() -> None:
    result = rules_for(ks=0.39, brier=0.052, ece=0.030, approval_rate=0.75, auc=0.752)
    assert all(result.values()), result


def test_equal_models_are_not_promoted_even_with_a_zero_minimum_uplift() -> None:
    zero = POLICY.model_copy(update={"min_auc_uplift": 0.0})
    same = evaluate_rules(CHAMPION, CHAMPION, {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}, zero)
    verdict, reasons = verdict_of(same, True, [])
    assert verdict == REJECTED
    assert any(r.startswith("auc_uplift_ci_low failed") for r in reasons)


def test_rejection_reasons_name_the_failing_rules_with_threshold() -> None:
    rules = evaluate_rules({**CHAMPION, "auc": 0.77, "ece": 0.05}, CHAMPION, GOOD_CI, POLICY)
    verdict, reasons = verdict_of(rules, True, [])
    assert verdict == REJECTED
    assert len(reasons) == 1 and reasons[0].startswith("ece_not_worse failed")
    assert "0.01" in reasons[0]
    ece = next(r for r in rules if r.name == "ece_not_worse")
    assert (ece.comparison, ece.threshold, ece.passed) == ("<=", 0.01, False)
    assert ece.value == pytest.approx(0.03)


GATED = {"auc": 0.76, "ece": 0.012, "mean_pd": 0.062, "bad_rate": 0.058}
MONOTONE_OK = {"ltv": True, "bureau_score": True, "applicant_age": True}


def gates(changes: dict | None = None, uplift: float = 0.03,
          monotone: dict | None = None) -> dict[str, bool]:
    rules = absolute_rules({**GATED, **(changes or {})}, uplift,
                           MONOTONE_OK if monotone is None else monotone, POLICY)
    return {r.name: r.passed for r in rules}


def test_absolute_gates_pass_a_sound_model_and_each_fails_on_its_own() -> None:
    assert all(gates().values())
    for result, failing in ((gates(uplift=0.004), "beats_baseline"),
                            (gates({"ece": 0.031}), "ece_bound"),
                            (gates({"mean_pd": 0.08}), "mean_pd_vs_bad_rate"),  # 38% above
                            (gates({"mean_pd": 0.04}), "mean_pd_vs_bad_rate"),  # 31% below
                            (gates(monotone={**MONOTONE_OK, "applicant_age": False}),
                             "monotone_directions")):
        assert not result[failing]
        assert all(ok for name, ok in result.items() if name != failing), result
    # a model of the lender's own columns only declares no direction: nothing can break
    assert gates(monotone={})["monotone_directions"]


def test_a_first_model_below_the_baseline_is_rejected_without_a_champion() -> None:
    rules = absolute_rules(GATED, -0.01, MONOTONE_OK, POLICY)
    verdict, reasons = verdict_of(rules, False, [])
    assert verdict == REJECTED
    assert len(reasons) == 1 and reasons[0].startswith("beats_baseline failed")
    assert "-0.0100" in reasons[0] and "+0.0050" in reasons[0]


def test_refusal_wins_over_rules_and_a_first_model_needs_the_absolute_gates() -> None:
    assert verdict_of([], True, ["model files missing"]) == (REFUSED, ["model files missing"])
    verdict, reasons = verdict_of(absolute_rules(GATED, 0.03, MONOTONE_OK, POLICY), False, [])
    assert verdict == PROMOTED and "no champion yet: every absolute gate passed" in reasons[0]


def test_training_windows_must_end_before_the_promotion_window() -> None:
    window = {"start": "2024-04-01", "end": "2024-06-30"}
    clean = {"window.train": "2021-12-01..2023-11-30",
             "window.early_stopping": "2023-12-01..2024-01-31",
             "window.calibration": "2024-02-01..2024-03-31"}
    assert training_overlap(clean, window) == []
    late = {**clean, "window.calibration": "2024-02-01..2024-04-30"}
    assert training_overlap(late, window) == [
        "window.calibration 2024-02-01..2024-04-30 does not end before the promotion window "
        "starts (2024-04-01)"]
    missing = {k: v for k, v in clean.items() if k != "window.train"}
    assert training_overlap(missing, window) == ["tag window.train missing or unreadable"]
    assert training_overlap(missing, window, require=False) == []


def test_paired_intervals_are_seeded_cover_the_point_and_skip_one_class_draws() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.1).astype(float)
    p_old = np.clip(0.1 + 0.05 * rng.standard_normal(600), 0.001, 0.999)
    p_new = np.clip(p_old + 0.08 * (y - 0.1), 0.001, 0.999)  # separates better
    stat = labelled_statistic(y, {"challenger": p_new, "champion": p_old})
    first = paired_intervals(len(y), stat, 200, 0.95, seed=7)
    assert first == paired_intervals(len(y), stat, 200, 0.95, seed=7)
    low, high = first["difference.ks"]
    assert 0 < low < high
    lo_auc, hi_auc = first["challenger.auc"]
    assert lo_auc < stat(np.arange(len(y)))["challenger.auc"] < hi_auc
    single = labelled_statistic(np.zeros(50), {"champion": np.full(50, 0.1)})
    assert paired_intervals(50, single, 20, 0.95, seed=1) == {}


def test_approval_statistic_and_metric_table_layout() -> None:
    scores = {"champion": np.array([560.0, 580, 600, 620]),
              "challenger": np.array([575.0, 580, 600, 620])}
    stat = approval_statistic(scores, {"champion": (570, 535), "challenger": (570, 535)})
    assert stat(np.arange(4)) == {"champion.approval_rate": 0.75,
                                  "challenger.approval_rate": 1.0,
                                  "difference.approval_rate": 0.25}
    # each version at its own cut-offs, as scoring applies them
    own = approval_statistic(scores, {"champion": (570, 535), "challenger": (590, 535)})
    assert own(np.arange(4))["challenger.approval_rate"] == 0.5
    point = {"champion": {"auc": 0.75, "approval_rate": 0.75},
             "challenger": {"auc": 0.78, "approval_rate": 1.0}}
    table = metric_table(point, {"champion.auc": (0.7, 0.8)},
                         {"diff": 0.03, "ci_low": 0.01, "ci_high": 0.05})
    assert table["auc"]["champion"] == {"value": 0.75, "ci_low": 0.7, "ci_high": 0.8}
    assert table["auc"]["difference"] == {"value": pytest.approx(0.03), "ci_low": 0.01,
                                          "ci_high": 0.05}
    assert table["approval_rate"]["difference"]["value"] == 0.25
    assert table["ks"]["champion"]["value"] is None  # not computed: None, never NaN in JSON
    only = metric_table({"challenger": {"auc": 0.7}}, {}, None)
    assert set(only["auc"]) == {"challenger"}


def test_shadow_summary_pairs_scores_of_the_same_applications() -> None:
    frame = pd.DataFrame({
        "champion_score": np.linspace(500, 650, 400),
        "shadow_score": np.linspace(500, 650, 400) + 10,
        "business_date": np.repeat(pd.to_datetime(["2025-06-01", "2025-06-02"]), 200),
        "champion_version": "1"})
    frame["champion_decision"] = np.where(frame["champion_score"] >= 570, "approve", "review")
    frame["shadow_decision"] = np.where(frame["shadow_score"] >= 570, "approve", "review")
    out = shadow_summary(frame, bins=10, eps=1e-4)
    assert out["applications"] == 400 and out["days"] == 2
    assert out["business_dates"] == ["2025-06-01", "2025-06-02"]
    assert out["approval_rate_difference"] == pytest.approx(
        out["approval_rate_shadow"] - out["approval_rate_champion"])
    assert out["approval_rate_difference"] > 0 and out["score_psi"] > 0
    assert shadow_summary(frame.iloc[:0], bins=10, eps=1e-4) is None


def test_decision_record_is_plain_json_with_a_markdown_table() -> None:
    rules = evaluate_rules({**CHAMPION, "auc": 0.77}, CHAMPION, GOOD_CI, POLICY)
    decision = PromotionDecision(
        model_name="pd", verdict=PROMOTED, reasons=["every rule passed"],
        challenger={"version": "2", "run_id": "r2"}, champion={"version": "1"},
        window={"start": "2024-04-01", "end": "2024-06-30", "as_of": "2025-06-30"},
        triggered_by="test", decided_at=datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC),
        config_hash="abc", git_commit="deadbeef", cutoffs={"approve_at": 570.0,
                                                           "decline_below": 535.0},
        bootstrap={"samples": 300}, rules=rules,
        metrics=metric_table({"champion": CHAMPION, "challenger": {**CHAMPION, "auc": 0.77}},
                             {}, GOOD_CI))
    record = json.loads(json.dumps(decision.as_dict(), allow_nan=False))
    assert record["promoted"] is True and len(record["rules"]) == 6
    assert decision.stamp == "20260102T030405006789Z"
    text = decision.markdown()
    assert "**promoted**" in text and "| auc_uplift |" in text and "| auc | 0.7500" in text
    assert not any(isinstance(v, float) and math.isnan(v) for v in record["metrics"]["auc"])
