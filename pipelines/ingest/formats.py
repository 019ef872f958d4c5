"""How a lender writes its values, declared in the mapping (``formats:``, ``target:``) and read
column by column with vectorised string operations.

Each format turns a column as read into the warehouse type and says which values it could not
read: those rows are quarantined with the column, the format's rule (``format:date %d-%b-%y``)
and the value, never guessed. A column the file already types (a Parquet number or timestamp)
is taken as it is. Cost per million values (``bench/bench_formats.py``, 2 shared cores under
load): ``$60,000.00`` 0.60 s, ``7.5%`` 0.12 s, ``Y``/``N`` 0.08 s, ``28-Feb-97`` 0.12 s, a
timestamp different on every row (``28-Feb-97 10:31:02``) 0.57 s, read as day and clock apart;
pandas' ``strptime`` on the whole value took 5.8 s.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.errors import short
from pipelines.core.text import printable

DEFAULT_PIVOT_YEAR = 1969  # what strptime does: 69-99 are 1969-1999, 00-68 are 2000-2068
# A day layout of these directives, then a zero-padded clock: read apart, fast (DateFormat).
_DAY_ONLY = re.compile(r"(?:%[dmyYbB]|[^%\w])+")
_CLOCKS = {" %H:%M:%S": 8, " %H:%M": 5}
_CLOCK_SHAPES = {8: r"\s(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d", 5: r"\s(?:[01]\d|2[0-3]):[0-5]\d"}
_RULE_CHARS = 96  # the quarantine's rule column holds 128, with short()'s "... (N characters)"


def as_text(raw: pd.Series) -> pd.Series:
    """Values as the text a lender would write them (not yet stripped); null stays null. A typed
    column (Parquet) reads ``1`` for 1.0 so ``bad: [1]`` matches, and ``True`` for a boolean."""
    if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
        return raw
    if pd.api.types.is_float_dtype(raw):
        whole = raw.notna() & (raw % 1 == 0)
        text = raw.astype(str).astype(object)
        text[whole] = raw[whole].astype("int64").astype(str)
        return text.where(raw.notna(), None)
    return raw.astype(object).where(raw.isna(), raw.astype(str))


def rule_text(text: str) -> str:
    """A format's quarantine rule: storable (a NUL in a mapping's word is escaped) and short
    enough for the rule column."""
    return short(printable(text), _RULE_CHARS)


def mostly_distinct(text: pd.Series) -> bool:
    """A long column whose first 10,000 values are more than half distinct (amounts, times)."""
    head = text.iloc[:10_000]
    return len(text) > 50_000 and head.nunique() > len(head) // 2


def by_distinct(raw: pd.Series, parse: Callable[[pd.Series], pd.Series],
                dtype: str) -> tuple[pd.Series, np.ndarray]:
    """``parse`` (text -> values, null where unreadable) run once per distinct value and spread
    back: a million rows of dates, rates or flags hold a few thousand distinct values, and
    pandas' ``strptime`` costs 4-6 s per million. A column whose values are mostly distinct
    (amounts) is parsed whole: factorising it would only add 0.1-0.3 s. (values, unreadable)."""
    text = as_text(raw)
    present = text.notna().to_numpy()
    if mostly_distinct(text):
        out = parse(text.where(present, "").astype(str)).astype(dtype).where(present)
        return out, present & out.isna().to_numpy()
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    parsed = parse(pd.Series(uniques, dtype=object).astype(str)).astype(dtype).to_numpy()
    out = pd.Series(parsed[np.maximum(codes, 0)], index=raw.index).where(codes >= 0)
    return out.astype(dtype), present & out.isna().to_numpy()


@dataclass(frozen=True)
class DateFormat:
    """``{date: "%d-%b-%y"}`` or ``{date: {format: "%d-%b-%y", pivot_year: 1950}}``: strptime
    directives, matched whole (no other layout is tried). A two-digit year (``%y``) is the first
    year at or after ``pivot_year`` ending in those digits."""

    pattern: str
    pivot_year: int = DEFAULT_PIVOT_YEAR

    @property
    def rule(self) -> str:
        return rule_text(f"format:date {self.pattern}")

    def parse(self, raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
        if pd.api.types.is_datetime64_any_dtype(raw):
            return raw, np.zeros(len(raw), dtype=bool)
        for clock, width in _CLOCKS.items():
            day = self.pattern.removesuffix(clock)
            if day != self.pattern and _DAY_ONLY.fullmatch(day) and mostly_distinct(raw):
                return self._day_and_clock(raw, DateFormat(day, self.pivot_year), width)
        return by_distinct(raw, self._strict, "datetime64[ns]")

    def _day_and_clock(self, raw: pd.Series, day: DateFormat,
                       width: int) -> tuple[pd.Series, np.ndarray]:
        """A timestamp different on every row, ``<day> HH:MM[:SS]``: strptime costs 4-6 s per
        million of those, so the day is parsed per distinct value and the zero-padded clock
        from its digits; a value of another shape (``9:05``) goes through strptime whole."""
        text = _arrow(as_text(raw)).str.strip()
        clock = text.str.slice(-(width + 1))
        fast = clock.str.fullmatch(_CLOCK_SHAPES[width]).fillna(False).to_numpy(dtype=bool)
        days = day.parse(text.str.slice(0, -(width + 1)).where(fast))[0]
        seconds = sum(_to_float(clock.str.slice(at, at + 2)) * unit
                      for at, unit in ((1, 3600), (4, 60), (7, 1)) if at < width)
        nanos = np.nan_to_num(np.asarray(seconds, dtype=float)).astype("int64") * 10**9
        cast = pd.Series(days.to_numpy() + nanos.view("timedelta64[ns]"),
                         index=raw.index).where(fast)
        present = raw.notna().to_numpy()
        slow = present & ~fast
        if slow.any():
            cast[slow] = by_distinct(raw[slow], self._strict, "datetime64[ns]")[0]
        return cast, present & cast.isna().to_numpy()

    def _strict(self, values: pd.Series) -> pd.Series:
        parsed = pd.Series(pd.to_datetime(values.str.strip(), format=self.pattern,
                                          errors="coerce"), index=values.index)
        if "%y" not in self.pattern or self.pivot_year == DEFAULT_PIVOT_YEAR:
            return parsed
        year = parsed.dt.year
        wanted = self.pivot_year + (year - self.pivot_year) % 100
        moved = parsed.notna() & (wanted != year)
        if moved.any():  # rebuilt from parts: 29 Feb 2000 has no 1900 twin, so it is unreadable
            parts = {p: getattr(parsed[moved].dt, p) for p in
                     ("month", "day", "hour", "minute", "second", "microsecond")}
            parsed[moved] = pd.to_datetime(pd.DataFrame({"year": wanted[moved], **parts}),
                                           errors="coerce")
        return parsed


@dataclass(frozen=True)
class NumberFormat:
    """``{number: {currency: "$", thousands: ",", decimal: "."}}`` and ``{percent: true}``.
    A value is an optional sign, the currency symbol before or after it (or none), digits
    grouped by ``thousands`` and ``decimal`` before the fraction; nothing else (no exponent, no
    second sign). A percentage reads ``7.5%`` and ``7.5`` alike as 0.075: a column declared a
    percentage is in percent points, with or without its sign."""

    currency: str = ""
    thousands: str = ""
    decimal: str = "."
    percent: bool = False

    @property
    def rule(self) -> str:
        name = "percent" if self.percent else "number"
        options = [f"{k}={v}" for k, v in (("currency", self.currency),
                                           ("thousands", self.thousands),
                                           ("decimal", self.decimal)) if v and v != "."]
        return rule_text(" ".join([f"format:{name}", *options]))

    def pattern(self) -> str:
        digits = r"\d+" + (f"(?:{re.escape(self.thousands)}\\d+)*" if self.thousands else "")
        number = f"(?:{digits}(?:{re.escape(self.decimal)}\\d*)?|{re.escape(self.decimal)}\\d+)"
        tail = r"\s*%?" if self.percent else ""
        if not self.currency:
            return rf"[-+]?{number}{tail}"
        cur = re.escape(self.currency)
        return (rf"(?:[-+]?\s*{cur}\s*{number}|{cur}\s*[-+]\s*{number}"
                rf"|[-+]?{number}(?:\s*{cur})?){tail}")

    def parse(self, raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            return raw.astype("float64"), np.zeros(len(raw), dtype=bool)
        return by_distinct(raw, self._read, "float64")

    def _read(self, text: pd.Series) -> pd.Series:
        text = _arrow(text).str.strip()
        clean = text.where(text.str.fullmatch(self.pattern()).fillna(False))
        for symbol in (self.currency, self.thousands, "%", " "):
            if symbol:
                clean = clean.str.replace(symbol, "", regex=False)
        if self.decimal != ".":
            clean = clean.str.replace(self.decimal, ".", regex=False)
        cast = _to_float(clean)
        return cast / 100 if self.percent else cast


@dataclass(frozen=True)
class WordsFormat:
    """Two sets of words read as 1 and 0: a flag ``{boolean: {true: [Y], false: [N]}}`` or the
    target ``{column: loan_status, bad: [CHGOFF], good: [P I F]}``. Words are matched exactly
    (case included) once the surrounding blanks are stripped; any other word is unreadable."""

    name: str  # boolean | label
    ones: tuple[str, ...]
    zeros: tuple[str, ...]

    @property
    def rule(self) -> str:
        one, zero = ("true", "false") if self.name == "boolean" else ("bad", "good")
        return rule_text(f"format:{self.name} {one}=[{', '.join(self.ones)}] "
                     f"{zero}=[{', '.join(self.zeros)}]")

    def parse(self, raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
        if pd.api.types.is_bool_dtype(raw):
            return raw.astype("float64"), np.zeros(len(raw), dtype=bool)
        return by_distinct(raw, self._read, "float64")

    def _read(self, text: pd.Series) -> pd.Series:
        text = text.str.strip()
        cast = pd.Series(np.nan, index=text.index, dtype="float64")
        cast[text.isin(self.ones).to_numpy()] = 1.0
        cast[text.isin(self.zeros).to_numpy()] = 0.0
        return cast


Format = DateFormat | NumberFormat | WordsFormat


def translate(text: pd.Series, words: dict[str, str]) -> pd.Series:
    """A lender's words onto the warehouse's (``values:``), on text already stripped; a word
    the map does not cover is left as read, for the suite's category rule to quarantine."""
    mapped = text.map(words)
    return mapped.where(mapped.notna(), text)


def _to_float(clean: pd.Series) -> pd.Series:
    """Text already matched to a plain number: Arrow's cast (10x ``pd.to_numeric``) when the
    text is on Arrow, pandas' otherwise."""
    if getattr(clean.dtype, "storage", "") == "pyarrow":
        try:
            cast = pc.cast(pa.array(clean.array), pa.float64())
            return pd.Series(cast.to_numpy(zero_copy_only=False), index=clean.index)
        except pa.ArrowInvalid:  # a number Arrow reads otherwise than pandas: pandas decides
            pass
    return pd.to_numeric(clean, errors="coerce").astype("float64")


def _arrow(text: pd.Series) -> pd.Series:
    """Text on Arrow's string kernels (3-5x pandas' per-value loops); text holding bytes that
    were not UTF-8 (kept as surrogates, quarantined by ingest) stays on pandas' own."""
    try:
        return text.astype("string[pyarrow]")
    except (UnicodeEncodeError, ValueError, TypeError):
        return text
