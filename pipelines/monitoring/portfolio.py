"""Post-loan monitoring from the repayment tape: roll rates and vintage curves.

Two layers, so the arithmetic can be tested on hand-made tapes:
- pure functions on frames (``transition_counts``, ``roll_rate_matrix``, ``forward_rolls``,
  ``roll_rate_alerts``, ``vintage_curves``, and ``vintage_counts`` on tape frames);
- loaders that let the database aggregate only the tape months a business date needs
  (``load_transition_counts``, ``load_vintage_counts``, through the statements of
  ``pipelines.warehouse.monitoring``: a few hundred rows back, never the whole tape), returning
  the very frames the pure functions take.

Roll rates: a loan in bucket ``b`` at month end ``t`` (status open) is in bucket ``b'`` at the
next month end; the roll-rate matrix holds the share of the loans in ``b`` at ``t`` that are
in ``b'`` at ``t + 1``. The forward roll rate of ``b`` is the share that moved to a worse bucket.
Pay-off rows carry bucket "current", charge-off rows "charge-off"; both end the loan's tape, so
terminal rows are never a "from" state. Facts after the business date are never read.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import binom

from pipelines.core.stage_settings import MonitoringSettings
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.monitoring import tape_transitions, tape_vintage_counts
from pipelines.warehouse.schema import BAD_BUCKETS, DPD_BUCKETS
from pipelines.warehouse.tape_cache import cached

BUCKETS: list[str] = list(DPD_BUCKETS)  # current, 1-30, 31-60, 61-90, 90+, charge-off
FROM_BUCKETS: list[str] = BUCKETS[:-1]  # charge-off is absorbing
_RANK = {b: i for i, b in enumerate(BUCKETS)}
COUNT_COLUMNS = ["as_of_month", "from_bucket", "to_bucket", "loans"]


def month_end_on_or_before(day: date | pd.Timestamp) -> pd.Timestamp:
    """The month end on or before ``day`` (the latest tape a business date can know)."""
    ts = pd.Timestamp(day).normalize()
    return ts if ts.is_month_end else ts - pd.offsets.MonthEnd(1)


def month_ends_back(last: pd.Timestamp, n: int) -> list[pd.Timestamp]:
    """``n`` month ends ending at ``last`` (a month end), oldest first."""
    return [last - pd.offsets.MonthEnd(k) if k else last for k in range(n - 1, -1, -1)]


# ---------------------------------------------------------------------------------------------
# roll rates


def transition_counts(tape: pd.DataFrame, start: date | None = None,
                      end: date | None = None) -> pd.DataFrame:
    """Loans per (month end t, bucket at t, bucket at the next month end), from tape rows
    (loan_id, as_of_month, months_on_book, dpd_bucket, status) with t in [start, end]."""
    rows = tape[["loan_id", "as_of_month", "months_on_book", "dpd_bucket", "status"]].copy()
    rows["as_of_month"] = pd.to_datetime(rows["as_of_month"])
    nxt = rows[["loan_id", "as_of_month", "dpd_bucket"]].rename(
        columns={"dpd_bucket": "to_bucket"})
    nxt["as_of_month"] = nxt["as_of_month"] - pd.offsets.MonthEnd(1)  # keyed on the month before
    src = rows[rows["status"] == "open"]
    if start is not None:
        src = src[src["as_of_month"] >= pd.Timestamp(start)]
    if end is not None:
        src = src[src["as_of_month"] <= pd.Timestamp(end)]
    pairs = src.merge(nxt, on=["loan_id", "as_of_month"], how="inner")
    out = (pairs.groupby(["as_of_month", "dpd_bucket", "to_bucket"]).size()
           .rename("loans").reset_index().rename(columns={"dpd_bucket": "from_bucket"}))
    return out[COUNT_COLUMNS].sort_values(COUNT_COLUMNS[:3], ignore_index=True)


def transition_span(cfg: MonitoringSettings) -> int:
    """The transitions monitoring reads from the tape: enough for the roll-rate alerts
    (baseline + 1) and the loss forecast (baseline + horizon) alike, so both share one read."""
    return cfg.roll_rate_baseline_months + cfg.loss_forecast_months


def load_transition_counts(wh: Warehouse, as_of: date, months: int,
                           read_months: int | None = None) -> pd.DataFrame:
    """``transition_counts`` for the last ``months`` transitions known on ``as_of`` (the later
    month end on or before it), computed by the database: at most months x 30 rows back. The
    same every day of a month: read once per tape (``pipelines.warehouse.tape_cache``).
    ``read_months`` (e.g. ``transition_span``) reads that many and returns the last ``months``
    of them: the tape join costs ~0.1 s per month on the demo's tape, and callers asking for
    different spans then share one read (one cache entry) per tape."""
    last = month_end_on_or_before(as_of)
    span = max(months, read_months or months)
    counts = cached(wh, "transition_counts", last.date(), (span,),
                    lambda: _transition_counts(wh, last, span))
    if span == months:
        return counts
    first = month_ends_back(last - pd.offsets.MonthEnd(1), months)[0]
    # sorted by month first: the later months are a tail, in the order a direct read gives
    return counts[counts["as_of_month"] >= first].reset_index(drop=True)


def _transition_counts(wh: Warehouse, last: pd.Timestamp, months: int) -> pd.DataFrame:
    froms = month_ends_back(last - pd.offsets.MonthEnd(1), months)
    df = tape_transitions(wh, froms)
    return df[COUNT_COLUMNS].sort_values(COUNT_COLUMNS[:3], ignore_index=True)


def roll_rate_matrix(counts: pd.DataFrame, month: pd.Timestamp | None = None) -> pd.DataFrame:
    """Share of the loans in each bucket at ``month`` (default: the latest) found in each bucket
    at the next month end: rows from-bucket, columns to-bucket, rows sum to 1 (NaN: no loans)."""
    if counts.empty:
        return pd.DataFrame(np.nan, index=FROM_BUCKETS, columns=BUCKETS)
    month = pd.Timestamp(month) if month is not None else counts["as_of_month"].max()
    sub = counts[counts["as_of_month"] == month]
    table = sub.pivot_table(index="from_bucket", columns="to_bucket", values="loans",
                            aggfunc="sum", fill_value=0)
    table = table.reindex(index=FROM_BUCKETS, columns=BUCKETS, fill_value=0).astype(float)
    totals = table.sum(axis=1)
    return table.div(totals.where(totals > 0), axis=0)


def forward_rolls(counts: pd.DataFrame) -> pd.DataFrame:
    """Per transition month and from-bucket: loans, loans that moved to a worse bucket, and that
    share (the forward roll rate). Long format, one row per (as_of_month, bucket)."""
    c = counts.copy()
    worse = c["to_bucket"].map(_RANK) > c["from_bucket"].map(_RANK)
    c["rolled"] = np.where(worse, c["loans"], 0)
    g = c.groupby(["as_of_month", "from_bucket"])[["loans", "rolled"]].sum().reset_index()
    g = g.rename(columns={"from_bucket": "bucket"})
    g["rate"] = g["rolled"] / g["loans"]
    g["bucket"] = pd.Categorical(g["bucket"], categories=FROM_BUCKETS, ordered=True)
    return g.sort_values(["as_of_month", "bucket"], ignore_index=True)


def roll_rate_alerts(forward: pd.DataFrame, factor: float, baseline_months: int,
                     alpha: float, min_loans: int) -> pd.DataFrame:
    """The latest transition of each bucket against the mean of its previous ``baseline_months``
    rates: alert when the rate exceeds ``factor`` x that baseline, the rise is significant (one-
    sided binomial test of the rolled count against the baseline rate, p < alpha) and at least
    ``min_loans`` loans were in the bucket. A baseline needs half its months, else no alert."""
    cols = ["bucket", "as_of_month", "next_month", "rate", "baseline", "ratio", "p_value",
            "loans", "rolled", "baseline_months", "alert"]
    if forward.empty:
        return pd.DataFrame(columns=cols)
    latest = forward["as_of_month"].max()
    prior = sorted(m for m in forward["as_of_month"].unique() if m < latest)[-baseline_months:]
    rows = []
    for bucket in FROM_BUCKETS:
        now = forward[(forward["as_of_month"] == latest) & (forward["bucket"] == bucket)]
        if now.empty:
            continue
        hist = forward[forward["as_of_month"].isin(prior) & (forward["bucket"] == bucket)]
        hist = hist[hist["loans"] > 0]
        n, k, rate = int(now["loans"].iloc[0]), int(now["rolled"].iloc[0]), float(
            now["rate"].iloc[0])
        enough = len(hist) >= max(1, (baseline_months + 1) // 2)
        base = float(hist["rate"].mean()) if enough else float("nan")
        ratio = rate / base if enough and base > 0 else float("nan")
        p = float(binom.sf(k - 1, n, base)) if enough and 0 < base < 1 else float("nan")
        alert = bool(enough and n >= min_loans and ratio > factor and p < alpha)
        rows.append([bucket, latest, latest + pd.offsets.MonthEnd(1), rate, base, ratio, p, n,
                     k, len(hist), alert])
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------------------------------------
# vintages


def vintage_counts(loans: pd.DataFrame, tape: pd.DataFrame, start: date,
                   as_of: date) -> pd.DataFrame:
    """Loans per (origination_date, month on book of the first bad tape row; NaN = not bad yet)
    for loans originated in [start, as_of], from loan and tape frames (what
    ``load_vintage_counts`` asks the database for)."""
    lo, hi = pd.Timestamp(start), pd.Timestamp(as_of)
    book = loans[["loan_id", "origination_date"]].copy()
    book["origination_date"] = pd.to_datetime(book["origination_date"])
    book = book[(book["origination_date"] >= lo) & (book["origination_date"] <= hi)]
    t = tape[["loan_id", "as_of_month", "months_on_book", "dpd_bucket"]]
    month = pd.to_datetime(t["as_of_month"])
    bad = t[t["dpd_bucket"].isin(BAD_BUCKETS) & (month >= lo) & (month <= hi)]
    first = bad.groupby("loan_id")["months_on_book"].min().rename("first_bad_mob")
    per_loan = book.merge(first, left_on="loan_id", right_index=True, how="left")
    return (per_loan.groupby(["origination_date", "first_bad_mob"], dropna=False).size()
            .rename("loans").reset_index())


def load_vintage_counts(wh: Warehouse, as_of: date, months: int) -> pd.DataFrame:
    """``vintage_counts`` for the last ``months`` origination months, aggregated by the
    database (one row per origination day and first-bad month on book). Loans of the month
    after the last tape are left out: their vintage has no month on book yet (``vintage_curves``
    masks it whole), and leaving them out makes the read the same all month, so it is read once
    per tape (``pipelines.warehouse.tape_cache``)."""
    start = (pd.Timestamp(as_of).to_period("M") - (months - 1)).start_time.date()
    last = month_end_on_or_before(as_of).date()
    return cached(wh, "vintage_counts", last, (start,),
                  lambda: tape_vintage_counts(wh, start, last, BAD_BUCKETS))


def vintage_curves(counts: pd.DataFrame, as_of: date, max_mob: int = 12) -> pd.DataFrame:
    """Cumulative bad rate (90+ or charge-off) by month on book, one row per origination month
    ("2024-03"), columns 1..max_mob. A cell is NaN until the vintage's month-on-book tape exists
    on ``as_of`` (month on book k of a vintage is its (k-1)-th month end after its own)."""
    cols = list(range(1, max_mob + 1))
    if counts.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    c = counts.copy()
    c["vintage"] = pd.to_datetime(c["origination_date"]).dt.to_period("M")
    totals = c.groupby("vintage")["loans"].sum()
    bad = c.dropna(subset=["first_bad_mob"])
    by_mob = bad.pivot_table(index="vintage", columns="first_bad_mob", values="loans",
                             aggfunc="sum", fill_value=0)
    by_mob = by_mob.reindex(index=totals.index, columns=cols, fill_value=0)
    curves = by_mob.cumsum(axis=1).div(totals, axis=0)
    last = pd.Timestamp(as_of).to_period("M")
    if not pd.Timestamp(as_of).is_month_end:
        last -= 1  # this month's tape is not out yet
    age = np.array([(last - v).n + 1 for v in curves.index])  # month ends seen since origination
    mask = np.arange(1, max_mob + 1)[None, :] > age[:, None]
    curves = curves.mask(mask)
    curves.index = curves.index.astype(str)
    curves.index.name, curves.columns.name = "vintage", "months_on_book"
    return curves
