"""The lender's view of the window's decisions, beside the model's:

- automation: the share of applications decided automatically (approved or declined, no manual
  review), the review queue per business day, and (from matured vintages, see ``measure``) the
  bad rate of auto-approved loans;
- fair lending (``models.fairness``): approval rate and mean PD by age band and by every proxy
  segment the applications carry (region, channel, housing), the adverse-impact ratio against the
  most favoured group, and an alert for each group below ``monitoring.adverse_impact_floor``.
  Outcomes of the window are not known yet, so the bad rate by group is the model card's (OOT).
"""

from __future__ import annotations

import pandas as pd

from models.fairness import AGE_DIMENSION, age_bands, fair_lending_table
from pipelines.monitoring.context import ALERT, OK, DayContext, MetricRows

REVIEW = "review"


def measure_decisions(ctx: DayContext, rows: MetricRows, apps: pd.DataFrame,
                      scores: pd.DataFrame) -> pd.DataFrame | None:
    """Adds the automation and fair-lending rows; returns the fair-lending table (None when
    nothing was scored)."""
    if scores.empty:
        return None
    review = scores["decision"] == REVIEW
    days = max(int(apps["business_date"].nunique()) if len(apps) else 0, 1)
    rows.add("auto_decision_rate", float((~review).mean()),
             details={"scored": len(scores), "reviewed": int(review.sum()), "days": days})
    rows.add("review_queue_per_day", float(review.sum()) / days, details={"days": days})
    return _fair_lending(ctx, rows, apps, scores)


def _fair_lending(ctx: DayContext, rows: MetricRows, apps: pd.DataFrame,
                  scores: pd.DataFrame) -> pd.DataFrame:
    cfg = ctx.cfg
    keep = [c for c in ("application_id", "applicant_age", *cfg.fairness_segments)
            if c in apps.columns]
    frame = scores[["application_id", "decision", "pd"]].merge(apps[keep], on="application_id",
                                                              how="inner")
    if "applicant_age" in frame.columns:
        frame[AGE_DIMENSION] = age_bands(frame["applicant_age"], cfg.age_bands)
    table = fair_lending_table(frame, [AGE_DIMENSION, *cfg.fairness_segments],
                               cfg.fairness_min_group_rows, cfg.adverse_impact_floor)
    for r in table.itertuples():
        band = (ALERT if r.flagged else OK) if r.judged else None
        rows.add("adverse_impact_ratio", r.adverse_impact_ratio, f"{r.dimension}={r.group}",
                 band, {"n": r.n, "approval_rate": r.approval_rate, "mean_pd": r.mean_pd,
                        "floor": cfg.adverse_impact_floor})
    return table
