"""PD <-> score points, and score -> decision. The one convention of the project:

    odds_bad = pd / (1 - pd)
    factor   = pdo / ln 2
    offset   = base_score - factor * ln(base_odds)
    score    = offset - factor * ln(odds_bad)

so the score is ``base_score`` where the good:bad odds are ``base_odds``:1 (PD = 1/(1 + base_odds)),
each ``pdo`` points double the good:bad odds, and a higher score is safer. With the defaults
(600 points at 50:1, 20 PDO) a PD of 5% scores about 570 and a PD of 15% about 535.

Decisions: approve at or above ``approve_at``, decline below ``decline_below``, review between.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

PD_CLIP = (1e-6, 1.0 - 1e-6)  # keeps the score finite for PD 0 or 1 (isotonic can output either)
APPROVE, REVIEW, DECLINE = "approve", "review", "decline"


class ScalingError(ValueError):
    """Invalid scaling parameters, cut-offs or scores."""


def factor_offset(base_score: float, base_odds: float, pdo: float) -> tuple[float, float]:
    """(factor, offset) of the convention above."""
    if pdo <= 0 or base_odds <= 0:
        raise ScalingError(f"pdo and base_odds must be > 0, got pdo={pdo}, base_odds={base_odds}")
    factor = pdo / math.log(2.0)
    return factor, base_score - factor * math.log(base_odds)


def pd_to_score(pd: ArrayLike, base_score: float, base_odds: float, pdo: float) -> np.ndarray:
    """Points for each PD (clipped to [1e-6, 1 - 1e-6] first)."""
    factor, offset = factor_offset(base_score, base_odds, pdo)
    p = np.clip(np.asarray(pd, dtype=float), *PD_CLIP)
    if np.isnan(p).any():
        raise ScalingError(f"{int(np.isnan(p).sum())} PDs are NaN")
    return offset - factor * (np.log(p) - np.log1p(-p))


def score_to_pd(score: ArrayLike, base_score: float, base_odds: float, pdo: float) -> np.ndarray:
    """The inverse of ``pd_to_score`` (exact for PDs inside the clip range)."""
    factor, offset = factor_offset(base_score, base_odds, pdo)
    log_odds_bad = (offset - np.asarray(score, dtype=float)) / factor
    return 1.0 / (1.0 + np.exp(-log_odds_bad))


def _check_cutoffs(approve_at: float, decline_below: float) -> None:
    if decline_below > approve_at:
        raise ScalingError(
            f"decline_below ({decline_below}) must not exceed approve_at ({approve_at})")


def decide_by_score(score: ArrayLike, approve_at: float, decline_below: float) -> np.ndarray:
    """'approve' (score >= approve_at), 'decline' (score < decline_below) or 'review'."""
    _check_cutoffs(approve_at, decline_below)
    s = np.asarray(score, dtype=float)
    if np.isnan(s).any():
        raise ScalingError(f"{int(np.isnan(s).sum())} scores are NaN; no decision possible")
    out = np.full(s.shape, REVIEW, dtype=object)
    out[s >= approve_at] = APPROVE
    out[s < decline_below] = DECLINE
    return out


def cutoff_for_approval_rate(scores: ArrayLike, rate: float) -> float:
    """The ``approve_at`` that approves ``rate`` of these scores: the score of the
    floor(rate * n)-th best row. Without ties at that score exactly floor(rate * n) rows are
    approved; ties at the cut-off are all approved (a cut-off cannot split equal scores).
    ``rate == 0`` gives +inf (approve nobody)."""
    if not 0.0 <= rate <= 1.0:
        raise ScalingError(f"approval rate must be in [0, 1], got {rate}")
    s = np.asarray(scores, dtype=float).ravel()
    if s.size == 0 or np.isnan(s).any():
        raise ScalingError("need at least one score and no NaN scores to derive a cut-off")
    k = math.floor(rate * s.size + 1e-9)
    if k == 0:
        return math.inf
    return float(np.sort(s)[::-1][k - 1])
