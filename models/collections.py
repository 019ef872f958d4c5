"""The collections queue of a month end, from the roll-forward model's probabilities: each open
delinquent loan's expected loss (probability of rolling forward x balance x LGD), the loans
ordered by it (largest first; ties by loan id, so a rerun orders alike), and a suggested stage
from rules held as data in the configuration: the first rule whose buckets hold the loan's and
whose ``roll_at_least`` its probability reaches; a loan no rule matches gets the default stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from models.metrics import auc, decile_table

QUEUE_COLUMNS = ["queue_rank", "loan_id", "dpd_bucket", "months_on_book", "balance",
                 "roll_probability", "expected_loss", "stage"]


class StageRule(Protocol):
    stage: str
    buckets: list[str]
    roll_at_least: float


class StageRuleError(ValueError):
    """A stage rule names a bucket that is not a delinquency bucket."""


def check_stage_rules(rules: Sequence[StageRule], buckets: Sequence[str]) -> None:
    for i, rule in enumerate(rules):
        unknown = sorted(set(rule.buckets) - set(buckets))
        if unknown:
            raise StageRuleError(f"collections.stages[{i}] ({rule.stage}): bucket(s) "
                                 f"{', '.join(unknown)} not among {', '.join(buckets)}")


def suggest_stage(bucket: np.ndarray, probability: np.ndarray, rules: Sequence[StageRule],
                  default: str) -> np.ndarray:
    """The first matching rule's stage per loan, ``default`` where none matches."""
    bucket = np.asarray(bucket, dtype=object)
    probability = np.asarray(probability, dtype=float)
    stage = np.full(len(bucket), None, dtype=object)
    for rule in rules:
        hit = (stage == None) & np.isin(bucket, rule.buckets) & (  # noqa: E711 (elementwise)
            probability >= rule.roll_at_least)
        stage[hit] = rule.stage
    stage[stage == None] = default  # noqa: E711
    return stage


def build_queue(loans: pd.DataFrame, probability: np.ndarray, lgd: float,
                rules: Sequence[StageRule], default: str) -> pd.DataFrame:
    """``loans`` (loan_id, dpd_bucket, months_on_book, balance) with roll_probability,
    expected_loss and stage, ordered by expected loss (``QUEUE_COLUMNS``; queue_rank 1 = the
    largest)."""
    probability = np.asarray(probability, dtype=float)
    if len(probability) != len(loans):
        raise ValueError(f"{len(probability)} probabilities for {len(loans)} loans")
    bad = ~np.isfinite(probability) | (probability < 0) | (probability > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"loan {loans['loan_id'].iloc[i]}: roll_probability "
                         f"{float(probability[i])} is not a probability (rule between 0 and 1)")
    out = loans[["loan_id", "dpd_bucket", "months_on_book", "balance"]].copy()
    out["roll_probability"] = probability
    out["expected_loss"] = probability * out["balance"].to_numpy(dtype=float) * lgd
    out["stage"] = suggest_stage(out["dpd_bucket"].to_numpy(), probability, rules, default)
    out = out.sort_values(["expected_loss", "loan_id"], ascending=[False, True],
                          kind="stable", ignore_index=True)
    out["queue_rank"] = np.arange(1, len(out) + 1)
    return out[QUEUE_COLUMNS]


def judge_roll_forward(rolled: np.ndarray, probability: np.ndarray,
                       bins: int = 10) -> dict[str, object]:
    """The roll-forward probabilities of a month end judged against what the next month's tape
    showed (``rolled``: 1, 0, or NaN for a loan whose tape stopped, left out): loans, rolled,
    realised and mean predicted roll rate, AUC (NaN unless both outcomes occur) and the
    realised roll rate per predicted decile (``models.metrics.decile_table``: decile 1 = the
    highest probabilities; ``bad_rate`` is the realised roll rate)."""
    rolled = np.asarray(rolled, dtype=float)
    probability = np.asarray(probability, dtype=float)
    seen = ~np.isnan(rolled)
    y, p = rolled[seen].astype(np.int8), probability[seen]
    n, k = int(seen.sum()), int(y.sum()) if seen.any() else 0
    return {"loans": n, "rolled": k, "unobserved": int((~seen).sum()),
            "realised_rate": k / n if n else float("nan"),
            "mean_predicted": float(p.mean()) if n else float("nan"),
            "auc": auc(y, p) if 0 < k < n else float("nan"),
            "deciles": decile_table(y, p, bins) if n else None}
