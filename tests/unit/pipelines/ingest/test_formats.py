"""Each format of a mapping reads what a lender writes and names what it cannot read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.ingest.formats import DateFormat, NumberFormat, WordsFormat, translate


def read(fmt: DateFormat | NumberFormat | WordsFormat,
         values: list[object]) -> tuple[list[object], list[bool]]:
    cast, bad = fmt.parse(pd.Series(values, dtype=object))
    return [None if pd.isna(v) else v for v in cast], bad.tolist()


def test_a_two_digit_year_date_reads_by_the_strptime_rule() -> None:
    cast, bad = read(DateFormat("%d-%b-%y"), ["28-Feb-97", " 01-jan-03 ", "31-Dec-68",
                                              "01-Jan-69", None])
    assert cast == [pd.Timestamp("1997-02-28"), pd.Timestamp("2003-01-01"),
                    pd.Timestamp("2068-12-31"), pd.Timestamp("1969-01-01"), None]
    assert bad == [False] * 5


def test_a_pivot_year_moves_the_century() -> None:
    cast, bad = read(DateFormat("%d-%b-%y", pivot_year=1950),
                     ["28-Feb-49", "28-Feb-50", "28-Feb-97", "15-Jun-68"])
    assert [c.year for c in cast] == [2049, 1950, 1997, 1968]
    assert not any(bad)
    # 29 Feb 2000 read with the years 1900-1999 would be 29 Feb 1900, which never was
    cast, bad = read(DateFormat("%d-%b-%y", pivot_year=1900), ["29-Feb-00", "28-Feb-00"])
    assert cast == [None, pd.Timestamp("1900-02-28")] and bad == [True, False]


def test_a_date_not_in_its_format_is_unreadable_not_guessed() -> None:
    cast, bad = read(DateFormat("%d-%b-%y"),
                     ["31-Feb-97", "1997-02-28", "28/02/97", "28-Feb-1997", "28-Feb-97 10:00"])
    assert cast == [None] * 5 and all(bad)


def test_a_timestamp_format_keeps_the_time() -> None:
    cast, bad = read(DateFormat("%m/%d/%Y %I:%M %p"), ["02/28/1997 01:30 PM", "13/01/1997 01:00 AM"])
    assert cast == [pd.Timestamp("1997-02-28 13:30"), None] and bad == [False, True]


@pytest.mark.parametrize(("pattern", "pivot"), [("%d-%b-%y %H:%M", 1950),
                                              ("%m/%d/%Y %H:%M:%S", 1969)])
def test_distinct_timestamps_read_apart_as_strptime_reads_them_whole(pattern: str,
                                                                      pivot: int) -> None:
    """A long column of distinct timestamps is read as day and clock apart (fast); every value,
    zero-padded or not, reads exactly as pandas' strptime reads it whole."""
    stamps = pd.Timestamp("1995-01-01") + pd.to_timedelta(np.arange(60_000) * 3_607, unit="s")
    text = pd.Series(stamps.strftime(pattern), dtype=object)
    odd = ["28-Feb-97  10:00:00", "28-Feb-97 9:05:00", "28-Feb-97 24:00:00", "28-Feb-9710:00:00",
           "31-Feb-97 10:00:00", "28-Feb-97 10:00", "28-Feb-97 10:60:00", "28-feb-97 23:59:59",
           "02/28/1997 10:00:00", "02/30/1997 10:00:00", "2/3/1997 01:02:03", "28-Feb-97 10:00 ",
           "29-Feb-00 00:00", " 01-Jan-50 12:00", "x", "", "28-Feb-97 10:0"]
    text[: len(odd)] = odd
    text[len(odd)] = None
    cast, bad = DateFormat(pattern, pivot).parse(text)
    whole = DateFormat(pattern, pivot)._strict(text.fillna("").astype(str))
    assert cast.equals(whole.where(text.notna()).astype("datetime64[ns]"))
    assert bad.tolist() == (text.notna() & whole.isna()).tolist()
    assert 3 <= bad.sum() < len(odd)


def test_a_typed_timestamp_column_is_taken_as_it_is() -> None:
    raw = pd.Series(pd.to_datetime(["2024-01-05 10:00"]))
    cast, bad = DateFormat("%d-%b-%y").parse(raw)
    assert cast.tolist() == raw.tolist() and not bad.any()


def test_currency_and_thousands() -> None:
    fmt = NumberFormat(currency="$", thousands=",")
    cast, bad = read(fmt, ["$60,000.00", "-$5", "$-5.5", "1,234", "7 $", ".5", "$ 1,000,000.25",
                           None])
    assert cast == [60000.0, -5.0, -5.5, 1234.0, 7.0, 0.5, 1000000.25, None]
    assert not any(bad)


@pytest.mark.parametrize("value", ["6$0", "$", "$$5", "--5", "-$-5", "1e5", "1,,2", ",5", "abc",
                                   "5.0.1", "€5", "(5)", "5%"])
def test_a_number_off_its_format_is_unreadable(value: str) -> None:
    cast, bad = read(NumberFormat(currency="$", thousands=","), [value])
    assert cast == [None] and bad == [True]


def test_a_long_column_of_distinct_amounts_is_read_whole() -> None:
    amounts = np.arange(60_000) * 1.25  # mostly distinct: parsed whole, not per distinct value
    text = pd.Series([f"${a:,.2f}" for a in amounts], dtype=object)
    text[[7, 59_999]] = ["$1,2O0.00", None]
    cast, bad = NumberFormat(currency="$", thousands=",").parse(text)
    assert np.flatnonzero(bad).tolist() == [7]
    assert cast.isna().sum() == 2 and cast[8] == 10.0 and cast[59_998] == 74_997.5


def test_a_decimal_comma_and_a_suffixed_currency() -> None:
    fmt = NumberFormat(currency="€", thousands=".", decimal=",")
    cast, bad = read(fmt, ["1.234,50 €", "€ 12", "0,5", "1,234.50"])
    assert cast == [1234.5, 12.0, 0.5, None] and bad == [False, False, False, True]


def test_a_percentage_reads_with_or_without_its_sign_as_percent_points() -> None:
    cast, bad = read(NumberFormat(percent=True), ["40%", "7.5 %", "7.5", "-0.25%", "%", "x%",
                                                  "40%%"])
    assert cast[:4] == pytest.approx([0.4, 0.075, 0.075, -0.0025])
    assert cast[4:] == [None] * 3 and bad == [False] * 4 + [True] * 3


def test_a_typed_number_column_is_taken_as_it_is() -> None:
    cast, bad = NumberFormat(currency="$").parse(pd.Series([1.5, np.nan]))
    assert cast.tolist()[0] == 1.5 and np.isnan(cast.tolist()[1]) and not bad.any()


def test_boolean_words_exactly_as_listed() -> None:
    fmt = WordsFormat("boolean", ("Y", "Yes"), ("N", "No"))
    cast, bad = read(fmt, ["Y", " N ", "Yes", "No", "y", "maybe", None])
    assert cast == [1.0, 0.0, 1.0, 0.0, None, None, None]
    assert bad == [False] * 4 + [True, True, False]
    assert fmt.rule == "format:boolean true=[Y, Yes] false=[N, No]"
    typed, bad = fmt.parse(pd.Series([True, False]))
    assert typed.tolist() == [1.0, 0.0] and not bad.any()


def test_a_label_by_its_words_and_inverted() -> None:
    cast, bad = read(WordsFormat("label", ("CHGOFF",), ("P I F",)),
                     ["CHGOFF", "P I F", "PIF", None])
    assert cast == [1.0, 0.0, None, None] and bad == [False, False, True, False]
    repaid = WordsFormat("label", ("0",), ("1",))  # the file says repaid: 1 is good
    assert read(repaid, ["1", "0", "2"]) == ([0.0, 1.0, None], [False, False, True])
    cast, bad = repaid.parse(pd.Series([1.0, 0.0, np.nan]))  # a typed column (Parquet)
    assert cast.tolist()[:2] == [0.0, 1.0] and not bad.any()


def test_a_tape_word_outside_the_map_is_left_as_read() -> None:
    words = {"CURR": "current", "30": "1-30", "CO": "charge-off"}
    out = translate(pd.Series(["CURR", "30", "CO", "XX", None], dtype=object), words)
    assert out.tolist()[:4] == ["current", "1-30", "charge-off", "XX"] and pd.isna(out.iloc[4])


def test_rules_name_the_format() -> None:
    assert DateFormat("%d-%b-%y").rule == "format:date %d-%b-%y"
    assert NumberFormat(currency="$", thousands=",").rule == \
        "format:number currency=$ thousands=,"
    assert NumberFormat(percent=True).rule == "format:percent"
    assert len(DateFormat("%d" * 200).rule) <= 128
    # a NUL in a mapping's word (YAML "\\0") would be refused by PostgreSQL text
    assert WordsFormat("boolean", ("Y\x00",), ("N",)).rule == \
        "format:boolean true=[Y\\x00] false=[N]"
