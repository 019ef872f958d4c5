"""The collections roll-forward model's rows: one per open delinquent loan at a month end, its
features from its tape history known at that month end, and its label, whether it rolled to a
worse bucket on the next month's tape.

Point in time. Month end M's snapshot is taken when M's tape arrived (``arrivals``: the load
time most of M's rows share): it sees only the loan's tape rows of months up to M known by then,
never a later month's row nor a row (re)sent after it; training and the monthly queue build the
same snapshot. The label is read from the row of month M+1 (one month end later): 1 when its
bucket is worse than M's (a charge-off bucket or a charged-off / repossessed status is the
worst), 0 when it is not (a pay-off included), NaN when the loan has no row for M+1 (its tape
stopped: unobserved, not good). The caller's tape holds only rows known by its ``as_of``, so a
label whose month has not arrived is NaN too.

Buckets are the warehouse's words (a lender's own are mapped onto them at ingest). Pure pandas:
the rows come from ``pipelines.warehouse.collections``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import FeatureSpec

# Delinquency rank per warehouse bucket; a bad status ranks with charge-off.
BUCKET_RANK = {"current": 0, "1-30": 1, "31-60": 2, "61-90": 3, "90+": 4, "charge-off": 5}
WORST_RANK = 5
BAD_STATUSES = ("charged_off", "repossessed")
OPEN = "open"
# the buckets of an open delinquent loan: past due, not yet charged off
DELINQUENT_BUCKETS = tuple(b for b, r in BUCKET_RANK.items() if 0 < r < WORST_RANK)
# Tape columns the snapshot reads (``known_at``: when the row became known, never NaT).
TAPE_COLUMNS = ("loan_id", "as_of_month", "months_on_book", "dpd_bucket", "balance", "status",
                "known_at")
LOAN_COLUMNS = ("loan_id", "loan_amount", "term_months", "interest_rate", "monthly_payment")
# the application's own figures at origination (a book without them leaves their features out)
APPLICATION_COLUMNS = ("bureau_score", "vehicle_price", "annual_income", "delinquencies_2y")
KEY_COLUMNS = ("loan_id", "as_of_month")
TAPE_SOURCES = ("repayments.dpd_bucket", "repayments.as_of_month")


def _f(name: str, monotone: int, description: str, *sources: str) -> FeatureSpec:
    return FeatureSpec(name, "float", monotone, description, description, sources)


ROLL_FEATURES: tuple[FeatureSpec, ...] = (
    _f("bucket_rank", 1, "delinquency bucket at the month end (1 = 1-30 ... 4 = 90+)",
       *TAPE_SOURCES),
    _f("worst_rank_recent", 1, "worst bucket over the recent tape months", *TAPE_SOURCES),
    _f("rank_change_1m", 1, "buckets worsened since the previous month end", *TAPE_SOURCES),
    _f("months_delinquent_recent", 1, "recent month ends spent delinquent", *TAPE_SOURCES),
    _f("paid_share_3m", -1, "balance repaid over the last 3 months per scheduled payment",
       "repayments.balance", "loans.monthly_payment"),
    _f("months_on_book", 0, "months on book at the month end", "repayments.months_on_book"),
    _f("balance", 0, "outstanding balance at the month end", "repayments.balance"),
    _f("balance_share", 0, "balance over the amount financed", "repayments.balance",
       "loans.loan_amount"),
    _f("remaining_term", 0, "scheduled months left", "loans.term_months",
       "repayments.months_on_book"),
    _f("loan_amount", 0, "amount financed at origination", "loans.loan_amount"),
    _f("term_months", 0, "term at origination", "loans.term_months"),
    _f("interest_rate", 0, "interest rate at origination", "loans.interest_rate"),
    _f("monthly_payment", 0, "scheduled monthly payment", "loans.monthly_payment"),
    _f("bureau_score", -1, "bureau score at application", "applications.bureau_score"),
    _f("ltv", 1, "amount financed over the vehicle price", "loans.loan_amount",
       "applications.vehicle_price"),
    _f("pti", 1, "scheduled payment over monthly income", "loans.monthly_payment",
       "applications.annual_income"),
    _f("delinquencies_2y", 1, "delinquencies in the two years before application",
       "applications.delinquencies_2y"),
)
FEATURE_NAMES = [s.name for s in ROLL_FEATURES]


class RollInputError(ValueError):
    """Tape rows the roll-forward rows cannot be built from; the message names the row,
    column and rule."""


def _check(tape: pd.DataFrame) -> None:
    missing = [c for c in TAPE_COLUMNS if c not in tape.columns]
    if missing:
        raise RollInputError(f"tape frame lacks column(s) {', '.join(missing)}")
    unknown = ~tape["dpd_bucket"].isin(list(BUCKET_RANK))
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise RollInputError(f"tape row {row} (loan {tape['loan_id'].iloc[row]}), column "
                             f"dpd_bucket: {tape['dpd_bucket'].iloc[row]!r} is not a warehouse "
                             f"bucket (rule in_set: {', '.join(BUCKET_RANK)})")
    unknown_at = tape["known_at"].isna()
    if unknown_at.any():
        row = int(np.flatnonzero(unknown_at.to_numpy())[0])
        raise RollInputError(f"tape row {row} (loan {tape['loan_id'].iloc[row]}), column "
                             "known_at: empty (rule not_null: the reader fills month end + lag)")


def tape_rank(tape: pd.DataFrame) -> pd.Series:
    """Each row's delinquency rank; a charged-off or repossessed status is the worst."""
    rank = tape["dpd_bucket"].map(BUCKET_RANK).astype(float)
    return rank.where(~tape["status"].isin(BAD_STATUSES), float(WORST_RANK))


def arrivals(tape: pd.DataFrame) -> pd.Series:
    """When each tape month arrived, by month end: the ``known_at`` most of its rows share (the
    month's delivery; ties: the earliest). A row re-sent or first sent later does not move it,
    so it cannot let that later knowledge into the month's snapshot."""
    counts = tape.groupby(["as_of_month", "known_at"]).size().rename("rows").reset_index()
    counts = counts.sort_values(["as_of_month", "rows", "known_at"],
                                ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("as_of_month").set_index("as_of_month")["known_at"]


def _shifted(tape: pd.DataFrame, months: int) -> pd.DataFrame:
    """The tape keyed ``months`` month ends later: row (loan, M) holds the loan's row of
    M - months (negative: a later month's)."""
    later = tape["as_of_month"] + pd.offsets.MonthEnd(months) if months > 0 else \
        tape["as_of_month"] - pd.offsets.MonthEnd(-months)
    return tape.assign(as_of_month=later)


def snapshot_rows(tape: pd.DataFrame, month_ends: list[pd.Timestamp]) -> pd.DataFrame:
    """The open delinquent loans (open status, bucket 1-30 to 90+) on each of ``month_ends``,
    with their tape facts at the month end: loan_id, as_of_month, rank, months_on_book,
    balance, ordered by month end and loan. Only rows known by the month's arrival count."""
    _check(tape)
    arrived = arrivals(tape)
    wanted = tape["as_of_month"].isin(month_ends)
    rows = tape[wanted].assign(rank=tape_rank(tape[wanted]))
    seen = rows["known_at"] <= rows["as_of_month"].map(arrived)
    keep = seen & (rows["status"] == OPEN) & rows["rank"].between(1, WORST_RANK - 1)
    # one order whatever order the database returned the rows in: a rerun fits the same model
    return rows.loc[keep, ["loan_id", "as_of_month", "rank", "months_on_book", "balance"]
                    ].sort_values(["as_of_month", "loan_id"], kind="stable", ignore_index=True)


def roll_features(tape: pd.DataFrame, loans: pd.DataFrame, month_ends: list[pd.Timestamp],
                  history_months: int = 6) -> pd.DataFrame:
    """One row per open delinquent loan and month end of ``month_ends``, indexed by
    ``snapshot_id`` ("loan_id|YYYY-MM-DD"): loan_id, as_of_month and ``FEATURE_NAMES``, from the
    loan's rows of the ``history_months`` month ends up to it known by the month's arrival and
    its origination terms (``loans``: ``LOAN_COLUMNS`` and, where the book has them,
    ``APPLICATION_COLUMNS``)."""
    snap = snapshot_rows(tape, month_ends)
    arrived = arrivals(tape)
    ranked = tape.assign(rank=tape_rank(tape))[["loan_id", "as_of_month", "rank", "balance",
                                                "known_at"]]
    lags = {}
    for k in range(1, history_months):
        past = snap[list(KEY_COLUMNS)].merge(_shifted(ranked, k), on=list(KEY_COLUMNS),
                                             how="left")
        # a row that arrived after the snapshot's month was not there to be seen
        unseen = ~(past["known_at"] <= past["as_of_month"].map(arrived))
        past.loc[unseen, ["rank", "balance"]] = np.nan
        lags[k] = past[["rank", "balance"]].set_axis(snap.index)
    ranks = pd.concat([snap["rank"], *(lags[k]["rank"] for k in lags)], axis=1)
    columns = [c for c in (*LOAN_COLUMNS, *APPLICATION_COLUMNS) if c in loans.columns]
    terms = snap[["loan_id"]].merge(loans[columns], on="loan_id", how="left").reindex(
        columns=["loan_id", *LOAN_COLUMNS[1:], *APPLICATION_COLUMNS])
    terms.index = snap.index
    out = pd.DataFrame({
        "loan_id": snap["loan_id"], "as_of_month": snap["as_of_month"],
        "bucket_rank": snap["rank"], "worst_rank_recent": ranks.max(axis=1),
        "rank_change_1m": snap["rank"] - lags[1]["rank"] if 1 in lags else np.nan,
        "months_delinquent_recent": (ranks > 0).sum(axis=1).astype(float),
        "paid_share_3m": (lags[3]["balance"] - snap["balance"])
        / (3 * terms["monthly_payment"]) if 3 in lags else np.nan,
        "months_on_book": snap["months_on_book"].astype(float),
        "balance": snap["balance"].astype(float),
        "balance_share": snap["balance"] / terms["loan_amount"],
        "remaining_term": terms["term_months"] - snap["months_on_book"],
    })
    for col in (*LOAN_COLUMNS[1:], "bureau_score", "delinquencies_2y"):
        out[col] = terms[col].astype(float)
    out["ltv"] = terms["loan_amount"] / terms["vehicle_price"].where(terms["vehicle_price"] > 0)
    out["pti"] = terms["monthly_payment"] / (terms["annual_income"].where(
        terms["annual_income"] > 0) / 12)
    out.index = pd.Index(snap["loan_id"].astype(str) + "|"
                         + snap["as_of_month"].dt.strftime("%Y-%m-%d"), name="snapshot_id")
    return out.astype({c: "float64" for c in FEATURE_NAMES})


def roll_labels(tape: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """Per row of ``roll_features``: 1.0 when the loan's next month-end row is worse, 0.0 when
    it is not, NaN when the tape holds no next row (see the module docstring)."""
    ranked = tape.assign(rank=tape_rank(tape))[["loan_id", "as_of_month", "rank"]]
    nxt = rows[list(KEY_COLUMNS)].merge(_shifted(ranked, -1), on=list(KEY_COLUMNS), how="left")
    worse = (nxt["rank"] > rows["bucket_rank"].to_numpy()).astype(float)
    return pd.Series(worse.where(nxt["rank"].notna()).to_numpy(), index=rows.index,
                     name="rolled")
