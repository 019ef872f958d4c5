"""The mapping's formats, target words and values maps: read as the lender wrote them, and every
entry that cannot be used refused by name before a file is read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.ingest.formats import DateFormat, NumberFormat, WordsFormat
from pipelines.ingest.mapping import Mapping, MappingError, load_mapping

APPLICATIONS = """kind: applications
columns: {application_id: LoanNr, application_ts: ApprovalDate, loan_amount: GrAppv,
          interest_rate: Rate, housing: Home}
target: {column: MIS_Status, bad: [CHGOFF], good: [P I F]}
extra_features: {numeric: [LowDoc, NoEmp], categorical: [State]}
formats:
  application_ts: {date: {format: "%d-%b-%y", pivot_year: 1950}}
  loan_amount: {number: {currency: "$", thousands: ",", decimal: "."}}
  interest_rate: {percent: true}
  LowDoc: {boolean: {true: [Y, Yes, 1], false: [N, No, 00]}}
  NoEmp: {number: {thousands: " "}}
values:
  housing: {O: own, M: mortgage, "00": other}
"""


def load(tmp_path: Path, text: str, kind: str = "applications") -> Mapping:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    return load_mapping(path, kind)


def test_every_option_is_read_as_written(tmp_path: Path) -> None:
    mapping = load(tmp_path, APPLICATIONS)
    assert mapping.target == "MIS_Status"
    assert mapping.label == WordsFormat("label", ("CHGOFF",), ("P I F",))
    assert mapping.formats == {
        "application_ts": DateFormat("%d-%b-%y", 1950),
        "loan_amount": NumberFormat(currency="$", thousands=","),
        "interest_rate": NumberFormat(percent=True),
        # YAML 1.1 would have read Yes/No as booleans and 00 as 0
        "LowDoc": WordsFormat("boolean", ("Y", "Yes", "1"), ("N", "No", "00")),
        "NoEmp": NumberFormat(thousands=" ")}
    assert mapping.values == {"housing": {"O": "own", "M": "mortgage", "00": "other"}}


def test_the_plain_and_the_inverted_target(tmp_path: Path) -> None:
    plain = load(tmp_path, "kind: applications\ntarget: defaulted\n")
    assert (plain.target, plain.label) == ("defaulted", None)
    inverted = load(tmp_path, "target: {column: repaid, bad: [0], good: [1]}\n")
    assert (inverted.target, inverted.label) == ("repaid", WordsFormat("label", ("0",), ("1",)))


def test_a_tape_vocabulary(tmp_path: Path) -> None:
    mapping = load(tmp_path, """kind: repayments
values:
  dpd_bucket: {CURR: current, 30: 1-30, "60": 31-60, "90": 61-90, "120": 90+, CO: charge-off}
  status: {ACT: open, PIF: paid_off, CHGOFF: charged_off, REPO: repossessed}
""", "repayments")
    assert mapping.values["dpd_bucket"]["30"] == "1-30"
    assert mapping.values["status"]["REPO"] == "repossessed"


REFUSED = [
    # formats: a column the mapping does not read, or read under another name
    ("formats: {foo: {date: '%d'}}", "formats.foo: not a column of this mapping"),
    ("columns: {application_ts: AppDate}\nformats: {AppDate: {date: '%d-%b-%y'}}",
     "formats.AppDate: not a column of this mapping: your column 'AppDate' is read as "
     "'application_ts', use that"),
    ("target: bad_flag\nformats: {bad_flag: {boolean: {true: [Y], false: [N]}}}",
     "formats.bad_flag: the target's words go in target:"),
    # formats: unknown or misplaced format keys and options
    ("formats: {application_ts: {dates: '%d'}}",
     "formats.application_ts: unknown entry dates (allowed: date, number, percent, boolean)"),
    ("formats: {loan_amount: {number: {}, percent: true}}",
     "formats.loan_amount: one format per column"),
    ("formats: {loan_amount: '$'}", "formats.loan_amount must be one of"),
    ("formats: {loan_amount: {date: '%d'}}",
     "formats.loan_amount: a date format does not fit the float column"),
    ("formats: {application_ts: {number: {}}}",
     "formats.application_ts: a number format does not fit the datetime column"),
    ("formats: {term_months: {percent: true}}",
     "formats.term_months: a percent format does not fit the int column"),
    ("formats: {housing: {boolean: {true: [Y], false: [N]}}}",
     "formats.housing: a boolean format does not fit the str column"),
    ("extra_features: {categorical: [State]}\nformats: {State: {number: {}}}",
     "formats.State: a number format does not fit the str column"),
    ("formats: {application_ts: {date: '%Q-%d'}}",
     "formats.application_ts.date: '%Q-%d' is not a strptime format"),
    ("formats: {application_ts: {date: 'dd-mm-yy'}}",
     "formats.application_ts.date: 'dd-mm-yy' is not a strptime format"),
    ("formats: {application_ts: {date: {format: '%y', pivot: 1950}}}",
     "formats.application_ts.date: unknown entry pivot (allowed: format, pivot_year)"),
    ("formats: {application_ts: {date: {format: '%y', pivot_year: 50}}}",
     "formats.application_ts.date.pivot_year must be a year from 1700 to 2100, got '50'"),
    ("formats: {loan_amount: {number: {symbol: $}}}",
     "formats.loan_amount.number: unknown entry symbol (allowed: currency, thousands, "
     "decimal)"),
    ("formats: {interest_rate: {percent: {currency: $}}}",
     "formats.interest_rate.percent: unknown entry currency (allowed: thousands, decimal)"),
    ("formats: {interest_rate: {percent: false}}",
     "formats.interest_rate.percent must be true or"),
    ("formats: {loan_amount: {number: {currency: US1}}}",
     "formats.loan_amount.number.currency: 'US1' cannot be read around digits"),
    ("formats: {loan_amount: {number: {thousands: '.', decimal: '.'}}}",
     "formats.loan_amount.number: the decimal mark must be set and differ"),
    ("formats: {loan_amount: {boolean: {true: [Y]}}}",
     "formats.loan_amount.boolean.false must be a word or a list of words"),
    ("formats: {loan_amount: {boolean: {true: [Y, N], false: [N]}}}",
     "formats.loan_amount.boolean: N listed as both true and false"),
    ("formats: {loan_amount: {boolean: {yes: [Y], false: [N]}}}",
     "formats.loan_amount.boolean: unknown entry yes (allowed: true, false)"),
    # target by its words
    ("target: {column: s, bad: [CHGOFF]}", "target must be a column name or"),
    ("target: {column: s, bad: [X], good: [X, Y]}", "target: X listed as both bad and good"),
    ("target: {column: s, bad: [X], good: [], colour: red}",
     "target: unknown entry colour (allowed: column, bad, good)"),
    ("target: {column: s, bad: X, good: []}", "target.good must be a word or a list of words"),
    # values: onto the warehouse's words only
    ("values: {housing: {O: owner}}",
     "values.housing: owner not warehouse words for housing (allowed: own, mortgage, rent, "
     "other)"),
    ("values: {loan_amount: {a: b}}",
     "values.loan_amount: not a warehouse column of 'applications' with a vocabulary"),
    ("values: {housing: [own]}", "values.housing must map your words onto the warehouse's"),
]


@pytest.mark.parametrize(("entries", "message"), REFUSED)
def test_an_entry_that_cannot_be_used_is_refused_by_name(tmp_path: Path, entries: str,
                                                         message: str) -> None:
    with pytest.raises(MappingError, match=re.escape(f"{tmp_path / 'mapping.yaml'}: {message}")):
        load(tmp_path, "kind: applications\n" + entries + "\n")


def test_a_tape_word_onto_no_warehouse_word_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=re.escape(
            "values.dpd_bucket: chargeoff not warehouse words for dpd_bucket (allowed: current, "
            "1-30, 31-60, 61-90, 90+, charge-off)")):
        load(tmp_path, "values: {dpd_bucket: {CO: chargeoff}}\n", "repayments")
    with pytest.raises(MappingError, match=r"values\.status: not a warehouse column of 'loans'"):
        load(tmp_path, "values: {status: {A: open}}\n", "loans")
