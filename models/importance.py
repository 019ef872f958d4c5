"""Feature importance of a booster, ranked: the training run's importance figure and the
monitoring dashboard's choice of features read the same ranking."""

from __future__ import annotations

import xgboost as xgb


def importance_ranking(booster: xgb.Booster, importance_type: str = "total_gain",
                       top: int | None = None) -> list[tuple[str, float]]:
    """(feature, importance) pairs, most important first; total gain by default (comparable
    across features that split often and rarely). Features never split on are absent."""
    scores = booster.get_score(importance_type=importance_type)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    return [(str(k), float(v)) for k, v in ranked[:top]]


def ranked_importance(booster: xgb.Booster, top: int | None = None) -> list[str]:
    """Feature names by total gain, most important first."""
    return [name for name, _ in importance_ranking(booster, top=top)]
