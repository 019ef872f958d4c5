"""The policy holdout's draw: only applications the policy would not approve, about the share
asked for, and the same ones on every rescoring."""

from __future__ import annotations

import numpy as np
import pytest

from models.holdout import holdout_mask


def test_the_holdout_approves_a_fixed_share_below_the_cut_off_only() -> None:
    ids = np.array([f"A{i:06d}" for i in range(40_000)], dtype=object)
    decisions = np.array(["approve", "review", "decline", "decline"] * 10_000, dtype=object)
    held = holdout_mask(ids, decisions, 0.05, key=42)
    assert not held[decisions == "approve"].any()
    assert held[decisions != "approve"].mean() == pytest.approx(0.05, abs=0.005)
    again = holdout_mask(ids[::-1], decisions[::-1], 0.05, key=42)[::-1]
    assert (again == held).all()  # fixed by the id, not the row order: a rerun draws alike
    assert (holdout_mask(ids, decisions, 0.05, key=7) != held).any()
    assert not holdout_mask(ids, decisions, 0.0, key=42).any()  # off by default
    with pytest.raises(ValueError, match="holdout share"):
        holdout_mask(ids, decisions, 1.5, key=42)
