"""The collections queue's arithmetic: expected loss, its order, the stage rules as data, and the
roll-forward model judged per predicted decile against what happened."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from models.collections import (
    StageRuleError,
    build_queue,
    check_stage_rules,
    judge_roll_forward,
    suggest_stage,
)

RULES = [SimpleNamespace(stage="legal", buckets=["90+"], roll_at_least=0.0),
         SimpleNamespace(stage="field", buckets=["31-60", "61-90"], roll_at_least=0.6),
         SimpleNamespace(stage="call", buckets=["1-30", "31-60"], roll_at_least=0.0)]
LOANS = pd.DataFrame({"loan_id": ["L3", "L1", "L2", "L4", "L5"],
                      "dpd_bucket": ["1-30", "31-60", "90+", "61-90", "31-60"],
                      "months_on_book": [5, 9, 20, 14, 7],
                      "balance": [10_000.0, 8_000.0, 4_000.0, 20_000.0, 8_000.0]})


def test_queue_is_ordered_by_expected_loss_with_stages_from_the_rules() -> None:
    p = np.array([0.3, 0.7, 0.9, 0.5, 0.7])
    queue = build_queue(LOANS, p, lgd=0.5, rules=RULES, default="letter")
    # expected loss = p x balance x lgd: L4 5000, L1 2800 = L5 2800 (tie: by id), L2 1800, L3 1500
    assert queue["loan_id"].tolist() == ["L4", "L1", "L5", "L2", "L3"]
    assert queue["queue_rank"].tolist() == [1, 2, 3, 4, 5]
    assert queue["expected_loss"].tolist() == pytest.approx([5000, 2800, 2800, 1800, 1500])
    # 61-90 below the field rule's 0.6 matches no rule: the default stage
    assert queue["stage"].tolist() == ["letter", "field", "field", "legal", "call"]


def test_the_first_matching_rule_wins() -> None:
    stages = suggest_stage(np.array(["31-60", "31-60"]), np.array([0.59, 0.6]), RULES, "x")
    assert stages.tolist() == ["call", "field"]


def test_bad_probabilities_and_unknown_buckets_are_named() -> None:
    with pytest.raises(ValueError, match="loan L2: roll_probability nan is not a probability"):
        build_queue(LOANS, np.array([0.1, 0.2, np.nan, 0.3, 0.4]), 0.5, RULES, "x")
    bad = [*RULES, SimpleNamespace(stage="legal", buckets=["120+"], roll_at_least=0.0)]
    with pytest.raises(StageRuleError, match=r"collections.stages\[3\] \(legal\): bucket"
                                             r"\(s\) 120\+ not among"):
        check_stage_rules(bad, ["1-30", "31-60", "61-90", "90+"])


def test_realised_roll_rate_per_predicted_decile() -> None:
    # 20 loans, two per decile; in the top decile both rolled, in the bottom one neither
    p = np.linspace(0.05, 0.95, 20)
    rolled = np.array([0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1], dtype=float)
    rolled_with_gap = np.append(rolled, np.nan)  # a loan whose tape stopped: left out
    judged = judge_roll_forward(rolled_with_gap, np.append(p, 0.99), bins=10)
    assert (judged["loans"], judged["rolled"], judged["unobserved"]) == (20, 10, 1)
    assert judged["realised_rate"] == 0.5
    assert judged["mean_predicted"] == pytest.approx(0.5)
    deciles = judged["deciles"]
    assert deciles["count"].tolist() == [2] * 10
    assert deciles["bad_rate"].tolist() == [1.0, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5, 0.0, 0.5, 0.0]
    assert deciles["mean_pd"].iloc[0] == pytest.approx((p[18] + p[19]) / 2)
    # AUC by hand: share of (rolled, not rolled) pairs ordered right
    pos, neg = p[rolled == 1], p[rolled == 0]
    assert judged["auc"] == pytest.approx((pos[:, None] > neg[None, :]).mean())
