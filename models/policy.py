"""What a PD becomes for one applicant: score points, a decision and reason codes.

One function, ``score_rows``, serves both daily scoring (pipelines.scoring.chunks; its output goes
to the warehouse) and the registered model MLflow serves (models.serving), so the two cannot drift
apart. ``ScoringPolicy`` holds the numbers it needs; the served model carries the policy that was
in force when it was registered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from models.pd_model import PDModel
from models.reasons import top_reasons
from models.scaling import APPROVE, decide_by_score, pd_to_score

REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
OUTPUT_COLUMNS = ("pd", "score", "decision", *REASON_COLUMNS)


@dataclass(frozen=True)
class ScoringPolicy:
    """Score scaling (models.scaling), cut-offs, and how many reason codes a decision owes."""

    base_score: float
    base_odds: float
    pdo: float
    approve_at: float
    decline_below: float
    reason_codes: int = len(REASON_COLUMNS)
    exact_contributions: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoringPolicy:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown scoring policy keys {unknown}")
        return cls(**data)


def reason_codes_needed(decision: np.ndarray) -> np.ndarray:
    """Adverse-action notices are owed to declined and referred applicants."""
    return decision != APPROVE


def reason_columns(model: PDModel, X: pd.DataFrame, decision: np.ndarray, k: int,
                   exact: bool) -> np.ndarray:
    """(n, 3) reason codes, filled for the rows that need them (at most three are kept)."""
    codes = np.full((len(X), len(REASON_COLUMNS)), None, dtype=object)
    need = np.flatnonzero(reason_codes_needed(decision))
    k = min(k, len(REASON_COLUMNS))
    if k < 1 or not len(need):
        return codes
    contribs = model.contributions(X.iloc[need], approx=not exact)
    top = top_reasons(contribs, model.feature_names, k)
    # A referred applicant of below-average risk may have no feature pushing risk above the
    # base; the notice still owes reasons: name the features that lowered the risk least.
    none = pd.isna(top[:, 0])
    if none.any():
        order = np.argsort(-contribs[none, :len(model.feature_names)], axis=1, kind="stable")
        top[none] = np.asarray(model.feature_names, dtype=object)[order[:, :k]]
    codes[need, :k] = top
    return codes


def score_rows(model: PDModel, X: pd.DataFrame, policy: ScoringPolicy) -> pd.DataFrame:
    """``OUTPUT_COLUMNS`` for each row of a feature frame (index kept): calibrated PD, points
    (rounded to 2 decimals, as stored), decision and reason codes (None where none is owed)."""
    pd_ = model.predict_pd(X)
    points = pd_to_score(pd_, policy.base_score, policy.base_odds, policy.pdo)
    decision = decide_by_score(points, policy.approve_at, policy.decline_below)
    reasons = reason_columns(model, X, decision, policy.reason_codes,
                             policy.exact_contributions)
    out = pd.DataFrame({"pd": pd_, "score": np.round(points, 2), "decision": decision},
                       index=X.index)
    for i, col in enumerate(REASON_COLUMNS):
        out[col] = reasons[:, i]
    return out
