"""Model and portfolio performance: estimated before labels mature, realised once they have, and
an early-delinquency warning that needs only three months of tape.

- Estimated: expected AUC, KS and bad rate of the window's champion PDs (``models.estimate``).
- Realised: per monthly vintage of champion-scored applications whose performance window has
  fully closed, AUC, KS and the actual bad rate against the mean PD (and whether the excess is
  significant), with labels from ``features.label_applications`` as of the business date.
- Early delinquency: a loan's first month end in ``bucket`` or worse within its first ``mob``
  months on book. Counted as an incidence: every tape row at months on book 1..mob of a loan
  without an earlier event is one loan-month at risk. The recent month ends are compared with the
  trailing baseline month ends, month on book by month on book (indirect standardisation: the
  expected count is each recent row's at-risk count times the baseline hazard at its month on
  book), so a young or old book mix does not fake a rise. Overall and per dealer, with a one-sided
  Poisson test of observed against expected.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm, poisson

from features.build import FeatureConfig
from models import metrics as M
from models.estimate import estimate_performance
from pipelines.monitoring.portfolio import BUCKETS, month_end_on_or_before, month_ends_back
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.monitoring import champion_scores_between, tape_early_delinquency
from pipelines.warehouse.tape_cache import cached

ED_COLUMNS = ["as_of_month", "mob", "dealer_id", "events", "at_risk"]


# ---------------------------------------------------------------------------------------------
# estimated (no labels)


def estimated_performance(pds: np.ndarray) -> dict[str, float]:
    """CBPE-style estimate for one window; empty window -> {} (nothing to estimate)."""
    pds = np.asarray(pds, dtype=float)
    return estimate_performance(pds) if pds.size else {}


# ---------------------------------------------------------------------------------------------
# realised (labels matured)


def mature_vintages(as_of: date, window_months: int, count: int) -> list[pd.Period]:
    """The ``count`` latest origination months whose every loan's performance window has closed
    on ``as_of`` (a loan booked on the month's last day closes ``window_months`` month ends
    later), newest last."""
    newest = pd.Timestamp(as_of).to_period("M") - window_months
    if (newest + window_months).end_time.normalize() > pd.Timestamp(as_of):
        newest -= 1
    return [newest - k for k in range(count - 1, -1, -1)]


def realised_by_vintage(frame: pd.DataFrame) -> pd.DataFrame:
    """Per vintage (column ``vintage``) and model version: labelled loans, bads, actual bad rate,
    mean PD, their ratio, a one-sided p-value for "actual above predicted" (normal approximation
    to the Poisson-binomial count of bads), AUC and KS (NaN with one class only)."""
    rows = []
    for (vintage, version), g in frame.groupby(["vintage", "model_version"], sort=True):
        y, p = g["bad"].to_numpy(dtype=float), g["pd"].to_numpy(dtype=float)
        bads, expected = float(y.sum()), float(p.sum())
        sd = math.sqrt(float(np.sum(p * (1 - p))))
        two = 0 < bads < y.size
        rows.append({
            "vintage": str(vintage), "model_version": str(version), "n": int(y.size),
            "bads": int(bads), "bad_rate": bads / y.size, "mean_pd": expected / y.size,
            "ratio": bads / expected if expected > 0 else float("nan"),
            "p_value": float(norm.sf((bads - expected - 0.5) / sd)) if sd > 0 else float("nan"),
            "auc": M.auc(y, p) if two else float("nan"),
            "ks": M.ks(y, p) if two else float("nan"),
        })
    return pd.DataFrame(rows, columns=["vintage", "model_version", "n", "bads", "bad_rate",
                                       "mean_pd", "ratio", "p_value", "auc", "ks"])


def load_realised(wh: Warehouse, as_of: date, config: FeatureConfig,
                  vintages: list[pd.Period]) -> pd.DataFrame:
    """Champion scores of the given vintages joined to their labels as of ``as_of``: columns
    vintage, model_version, pd, decision, bad (labelled loans only). Empty when nothing was
    scored then."""
    from features.target import label_applications
    from pipelines.warehouse.history import business_day_end, load_applications, shared_outcomes

    cols = ["vintage", "model_version", "pd", "decision", "holdout", "bad"]
    if not vintages:
        return pd.DataFrame(columns=cols)
    start, end = vintages[0].start_time.date(), vintages[-1].end_time.date()
    scores = champion_scores_between(wh, start, end)
    if scores.empty:
        return pd.DataFrame(columns=cols)
    apps = load_applications(wh, start, end)
    labels = label_applications(apps, shared_outcomes(wh, as_of, config),
                                business_day_end(as_of), config.performance_window_months)
    vintage = pd.Series(apps["business_date"].dt.to_period("M").to_numpy(),
                        index=apps["application_id"].to_numpy())
    out = scores.merge(labels[["bad"]], left_on="application_id", right_index=True, how="inner")
    out = out[out["bad"].notna()].copy()
    out["vintage"] = out["application_id"].map(vintage).astype(str)
    return out[cols].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# early delinquency


def event_buckets(bucket: str) -> list[str]:
    """``bucket`` and every worse bucket."""
    return BUCKETS[BUCKETS.index(bucket):]


def ed_months(as_of: date, recent: int, baseline: int) -> tuple[list[pd.Timestamp],
                                                                 list[pd.Timestamp]]:
    """(recent, baseline) month ends known on ``as_of``, oldest first."""
    months = month_ends_back(month_end_on_or_before(as_of), recent + baseline)
    return months[baseline:], months[:baseline]


def early_delinquency_counts(tape: pd.DataFrame, loans: pd.DataFrame, start: date, end: date,
                             mob: int, bucket: str) -> pd.DataFrame:
    """Events and loan-months at risk per (month end in [start, end], month on book <= mob,
    dealer), from tape and loan frames: what ``load_early_delinquency_counts`` asks the
    database for. A loan is at risk up to and including its first event month."""
    t = tape[tape["months_on_book"] <= mob].copy()
    t["as_of_month"] = pd.to_datetime(t["as_of_month"])
    t = t[t["as_of_month"] <= pd.Timestamp(end)]
    hit = t[t["dpd_bucket"].isin(event_buckets(bucket))]
    first = hit.groupby("loan_id")["months_on_book"].min().rename("first_ev")
    t = t[t["as_of_month"] >= pd.Timestamp(start)].merge(first, left_on="loan_id",
                                                        right_index=True, how="left")
    t = t[t["first_ev"].isna() | (t["months_on_book"] <= t["first_ev"])]
    t = t.merge(loans[["loan_id", "dealer_id"]], on="loan_id", how="inner")
    t["events"] = (t["months_on_book"] == t["first_ev"]).astype("int64")
    out = (t.groupby(["as_of_month", "months_on_book", "dealer_id"], dropna=False)
           .agg(events=("events", "sum"), at_risk=("loan_id", "size")).reset_index()
           .rename(columns={"months_on_book": "mob"}))
    return out[ED_COLUMNS].sort_values(ED_COLUMNS[:3], ignore_index=True)


def load_early_delinquency_counts(wh: Warehouse, start: date, end: date, mob: int,
                                  bucket: str) -> pd.DataFrame:
    """``early_delinquency_counts`` computed by the database for the month ends in
    [start, end]; only loans booked from ``mob + 1`` months before ``start`` are read (an older
    loan has no row at months on book <= mob in the window). Month ends only change with a new
    tape: read once per tape (``pipelines.warehouse.tape_cache``)."""
    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    return cached(wh, "early_delinquency_counts", end, (start, int(mob), bucket),
                  lambda: _early_delinquency_counts(wh, start, end, int(mob), bucket))


def _early_delinquency_counts(wh: Warehouse, start: date, end: date, mob: int,
                              bucket: str) -> pd.DataFrame:
    orig_start = (pd.Timestamp(start) - pd.offsets.MonthBegin(mob + 1)).date()
    df = tape_early_delinquency(wh, orig_start, start, end, mob, event_buckets(bucket))
    return df[ED_COLUMNS].sort_values(ED_COLUMNS[:3], ignore_index=True)


def early_delinquency(counts: pd.DataFrame, recent: list[pd.Timestamp],
                      baseline: list[pd.Timestamp]) -> pd.DataFrame:
    """Observed vs expected early delinquencies in the recent month ends, overall (segment
    "all") and per dealer ("dealer_id=D0042"), expected from the baseline hazard by month on
    book. Columns: segment, observed, expected, at_risk, ratio, p_value (one-sided Poisson),
    recent_rate and baseline_rate (events per loan-month at risk)."""
    cols = ["segment", "observed", "expected", "at_risk", "ratio", "p_value", "recent_rate",
            "baseline_rate"]
    base = counts[counts["as_of_month"].isin(baseline)]
    rec = counts[counts["as_of_month"].isin(recent)].copy()
    if base.empty or rec.empty or base["at_risk"].sum() == 0:
        return pd.DataFrame(columns=cols)
    by_mob = base.groupby("mob")[["events", "at_risk"]].sum()
    hazard = by_mob["events"] / by_mob["at_risk"]
    rec["expected"] = rec["at_risk"] * rec["mob"].map(hazard).fillna(0.0)
    base_rate = float(by_mob["events"].sum() / by_mob["at_risk"].sum())
    overall = pd.DataFrame({"segment": ["all"], "events": [rec["events"].sum()],
                            "expected": [rec["expected"].sum()],
                            "at_risk": [rec["at_risk"].sum()]})
    per_dealer = (rec.dropna(subset=["dealer_id"]).groupby("dealer_id")
                  [["events", "expected", "at_risk"]].sum().reset_index())
    per_dealer["segment"] = "dealer_id=" + per_dealer.pop("dealer_id").astype(str)
    out = pd.concat([overall, per_dealer], ignore_index=True).rename(
        columns={"events": "observed"})
    out["ratio"] = out["observed"] / out["expected"].where(out["expected"] > 0)
    out["p_value"] = np.where(out["expected"] > 0,
                              poisson.sf(out["observed"] - 1, out["expected"]), np.nan)
    out["recent_rate"] = out["observed"] / out["at_risk"]
    out["baseline_rate"] = base_rate
    out["observed"] = out["observed"].astype("int64")
    return out[cols]


def flag_early_delinquency(ed: pd.DataFrame, factor: float, alpha: float, dealer_factor: float,
                           dealer_alpha: float, dealer_min_events: int) -> pd.DataFrame:
    """Adds ``alert``: the portfolio when observed/expected >= factor and p < alpha; a dealer
    when it has at least ``dealer_min_events`` events, observed/expected >= dealer_factor and
    p below dealer_alpha divided by the number of dealers tested (Bonferroni: with hundreds of
    dealers a plain 1% test would name a few innocent ones every day)."""
    out = ed.copy()
    if out.empty:
        out["alert"] = pd.Series(dtype=bool)
        return out
    is_all = out["segment"] == "all"
    tested = int(((~is_all) & (out["expected"] > 0)).sum())
    portfolio = is_all & (out["ratio"] >= factor) & (out["p_value"] < alpha)
    dealer = ((~is_all) & (out["observed"] >= dealer_min_events)
              & (out["ratio"] >= dealer_factor)
              & (out["p_value"] < dealer_alpha / max(tested, 1)))
    out["alert"] = (portfolio | dealer).fillna(False).astype(bool)
    return out
