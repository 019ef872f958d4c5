"""The decision policy that combines the main PD model with an auxiliary one: the PD decides
(``models.policy``), and rules held as data in the configuration move a decision when the
early-payment-default probability (EPD) is high, e.g. an approve by PD with an EPD of 5% or more
goes to manual review. The first matching rule wins; its reason code and text lead the stored
reasons (a referred applicant is owed the reason it was referred for), the PD model's own reasons
following in the remaining slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Rule(Protocol):
    decision: str  # the PD decision the rule applies to
    epd_at_least: float
    then: str  # the decision it becomes
    reason: str  # reason code stored with the score
    text: str  # its notice text


def combine(decision: np.ndarray, epd: np.ndarray, rules: Sequence[Rule],
            exempt: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(final decision, index of the rule that moved it or -1) per application. A missing EPD
    (NaN: no EPD score) moves nothing; ``exempt`` rows (e.g. a policy holdout) keep theirs."""
    decision = np.asarray(decision, dtype=object)
    epd = np.asarray(epd, dtype=float)
    fired = np.full(len(decision), -1, dtype=np.int64)
    free = np.ones(len(decision), dtype=bool) if exempt is None else ~np.asarray(exempt, bool)
    for i, rule in enumerate(rules):
        hit = free & (fired < 0) & (decision == rule.decision) & (epd >= rule.epd_at_least)
        fired[hit] = i
    final = decision.copy()
    for i, rule in enumerate(rules):
        final[fired == i] = rule.then
    return final, fired


def lead_reason(reasons: np.ndarray, fired: np.ndarray, rules: Sequence[Rule],
                texts: bool = False) -> np.ndarray:
    """The (n, k) reason codes (or texts) with the fired rule's code (text) first and the
    model's own reasons after it, the last one dropped; rows no rule moved are unchanged."""
    out = np.asarray(reasons, dtype=object).copy()
    moved = np.flatnonzero(fired >= 0)
    if not len(moved):
        return out
    out[moved, 1:] = out[moved, :-1]
    out[moved, 0] = [getattr(rules[i], "text" if texts else "reason") for i in fired[moved]]
    return out
