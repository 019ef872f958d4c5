"""Books that are not shaped like the simulator's (issue 18): a simulated book written out as a
lender would send it, with its own column names, formats and words, and the mapping YAML that
reads it back. For tests of the whole loop on a lender's data.

- ``auto_book``: an auto lender's applications reduced to a dozen columns (two-digit-year
  timestamps, ``$1,234.00`` amounts, ``3.53%`` rates, a ``Y``/``N`` flag as an extra feature,
  ``N``/``U`` for new/used), its loans and its repayment tape in its own words (``CURR``, ``30``
  ... ``CO``; ``ACT``, ``PIF``, ``CHGOFF``, ``REPO``). Labels come from the tape.
- ``non_auto_book``: none of the simulator's application columns but an id, a date and a label
  in words (``CHGOFF`` / ``P I F``, blank for an application never booked); amount, term, income
  and four more are the lender's own columns, mapped as extra features. With ``tape=True``,
  loans and a tape instead of the label.

``ingest_book`` loads the files in order (applications, loans, repayments) through
``ingest_file``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.core.settings import Settings
from pipelines.ingest.load import IngestResult, ingest_file
from pipelines.simulation.simulate import Book
from pipelines.warehouse.engine import Warehouse

# The auto lender's tape words for the warehouse's buckets and statuses.
TAPE_BUCKETS = {"current": "CURR", "1-30": "30", "31-60": "60", "61-90": "90", "90+": "120",
                "charge-off": "CO"}
TAPE_STATUSES = {"open": "ACT", "paid_off": "PIF", "charged_off": "CHGOFF",
                 "repossessed": "REPO"}
AUTO_EXTRAS = ("HomeOwner",)
NON_AUTO_EXTRAS = ("GrAppv", "Term", "Income", "DebtRatio", "YearsInBusiness", "RevLineCr",
                   "Region")
KINDS = ("applications", "loans", "repayments")


@dataclass(frozen=True)
class LenderBook:
    """CSV files and their mappings, by kind (applications, loans, repayments)."""

    files: dict[str, Path] = field(default_factory=dict)
    mappings: dict[str, Path] = field(default_factory=dict)


def money(values: pd.Series) -> pd.Series:
    return values.map("${:,.2f}".format)


def percent(values: pd.Series) -> pd.Series:
    return (values * 100).round(4).map("{:g}%".format)


def flag(values: pd.Series) -> pd.Series:
    return pd.Series(np.where(values.to_numpy(dtype=bool), "Y", "N"), index=values.index)


def auto_book(book: Book, folder: Path) -> LenderBook:
    """An auto lender's three files and mappings, written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    apps = book.applications
    frame = pd.DataFrame({
        "AppNo": apps["application_id"],
        "AppDate": apps["application_ts"].dt.strftime("%d-%b-%y %H:%M"),
        "Income": money(apps["annual_income"]),
        "FICO": apps["bureau_score"].round().astype("Int64"),
        "VehPrice": money(apps["vehicle_price"]),
        "NewUsed": apps["vehicle_condition"].map({"new": "N", "used": "U"}),
        "AmtFin": money(apps["loan_amount"]), "Term": apps["term_months"],
        "APR": percent(apps["interest_rate"]), "Pmt": money(apps["monthly_payment"]),
        "Dealer": apps["dealer_id"], "HomeOwner": flag(apps["housing"].isin(["own", "mortgage"]))})
    out = LenderBook()
    _write(out, folder, "applications", frame, """kind: applications
columns:
  application_id: AppNo
  application_ts: AppDate
  annual_income: Income
  bureau_score: FICO
  vehicle_price: VehPrice
  vehicle_condition: NewUsed
  loan_amount: AmtFin
  term_months: Term
  interest_rate: APR
  monthly_payment: Pmt
  dealer_id: Dealer
extra_features:
  numeric: [HomeOwner]
formats:
  application_ts: {date: "%d-%b-%y %H:%M"}
  annual_income: {number: {currency: "$", thousands: ","}}
  vehicle_price: {number: {currency: "$", thousands: ","}}
  loan_amount: {number: {currency: "$", thousands: ","}}
  monthly_payment: {number: {currency: "$", thousands: ","}}
  interest_rate: {percent: true}
  HomeOwner: {boolean: {true: [Y], false: [N]}}
values:
  vehicle_condition: {N: new, U: used}
""")
    _write_tape(out, folder, book)
    return out


def non_auto_book(book: Book, folder: Path, *, tape: bool = False) -> LenderBook:
    """A lender without vehicles, dealers or bureau scores: applications with a label in words,
    or (``tape=True``) without it, plus loans and a repayment tape."""
    folder.mkdir(parents=True, exist_ok=True)
    apps = book.applications
    bad = book.truth.set_index("application_id")["bad_12m"].reindex(apps["application_id"])
    frame = pd.DataFrame({
        "LoanNr": apps["application_id"],
        "ApprovalDate": apps["application_ts"].dt.strftime("%d-%b-%y"),
        "GrAppv": money(apps["loan_amount"]), "Term": apps["term_months"],
        "Income": money(apps["annual_income"]),
        "DebtRatio": percent(apps["monthly_debt"] * 12 / apps["annual_income"]),
        "YearsInBusiness": apps["employment_years"],
        "RevLineCr": flag(apps["revolving_utilization"] > 0.8),
        "Region": apps["dealer_region"].str.upper()})
    label = ""
    if not tape:
        frame["MIS_Status"] = np.select([bad.to_numpy() == 1, bad.to_numpy() == 0],
                                        ["CHGOFF", "P I F"], "")
        label = "target: {column: MIS_Status, bad: [CHGOFF], good: [P I F]}\n"
    out = LenderBook()
    _write(out, folder, "applications", frame, f"""kind: applications
columns:
  application_id: LoanNr
  application_ts: ApprovalDate
{label}extra_features:
  numeric: [GrAppv, Term, Income, DebtRatio, YearsInBusiness, RevLineCr]
  categorical: [Region]
formats:
  application_ts: {{date: {{format: "%d-%b-%y", pivot_year: 1950}}}}
  GrAppv: {{number: {{currency: "$", thousands: ","}}}}
  Income: {{number: {{currency: "$", thousands: ","}}}}
  DebtRatio: {{percent: true}}
  RevLineCr: {{boolean: {{true: [Y], false: [N]}}}}
""")
    if tape:
        _write_tape(out, folder, book)
    return out


def _write_tape(out: LenderBook, folder: Path, book: Book) -> None:
    """Loans and the repayment tape, in the auto lender's layout and words."""
    loans = book.loans
    _write(out, folder, "loans", pd.DataFrame({
        "LoanNo": loans["loan_id"], "AppNo": loans["application_id"],
        "FundDate": loans["origination_date"].dt.strftime("%d-%b-%y"),
        "AmtFin": money(loans["loan_amount"]), "Term": loans["term_months"],
        "APR": percent(loans["interest_rate"]), "Pmt": money(loans["monthly_payment"])}),
        """kind: loans
columns:
  loan_id: LoanNo
  application_id: AppNo
  origination_date: FundDate
  loan_amount: AmtFin
  term_months: Term
  interest_rate: APR
  monthly_payment: Pmt
formats:
  origination_date: {date: "%d-%b-%y"}
  loan_amount: {number: {currency: "$", thousands: ","}}
  monthly_payment: {number: {currency: "$", thousands: ","}}
  interest_rate: {percent: true}
""")
    tape = book.repayments
    _write(out, folder, "repayments", pd.DataFrame({
        "LoanNo": tape["loan_id"], "MonthEnd": tape["as_of_month"].dt.strftime("%d-%b-%y"),
        "MOB": tape["months_on_book"], "Bucket": tape["dpd_bucket"].map(TAPE_BUCKETS),
        "Bal": money(tape["balance"]), "Stat": tape["status"].map(TAPE_STATUSES)}),
        f"""kind: repayments
columns:
  loan_id: LoanNo
  as_of_month: MonthEnd
  months_on_book: MOB
  dpd_bucket: Bucket
  balance: Bal
  status: Stat
formats:
  as_of_month: {{date: "%d-%b-%y"}}
  balance: {{number: {{currency: "$", thousands: ","}}}}
values:
  dpd_bucket: {_flow_map(TAPE_BUCKETS)}
  status: {_flow_map(TAPE_STATUSES)}
""")


def _flow_map(ours_to_theirs: dict[str, str]) -> str:
    return "{" + ", ".join(f'"{theirs}": {ours}' for ours, theirs in
                           ours_to_theirs.items()) + "}"


def _write(out: LenderBook, folder: Path, kind: str, frame: pd.DataFrame, mapping: str) -> None:
    out.files[kind] = folder / f"{kind}.csv"
    out.mappings[kind] = folder / f"{kind}.yaml"
    frame.to_csv(out.files[kind], index=False)
    out.mappings[kind].write_text(mapping)


def ingest_book(wh: Warehouse, lender: LenderBook, settings: Settings,
                business_date: date | None = None) -> dict[str, IngestResult]:
    """Each file through ``ingest_file`` with its mapping, applications first."""
    return {kind: ingest_file(wh, lender.files[kind], kind, lender.mappings[kind],
                              settings=settings, business_date=business_date)
            for kind in KINDS if kind in lender.files}
