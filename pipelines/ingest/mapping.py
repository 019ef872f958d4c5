"""Bring-your-own loan tapes: the YAML mapping from a lender's column names, value formats and
words onto the warehouse's.

```yaml
kind: applications            # applications | loans | repayments
columns:                      # warehouse column: your column
  application_id: app_ref
  application_ts: submitted_at
  annual_income: income_yearly
  interest_rate: apr
target: defaulted_12m         # optional: a final label already known (1 = bad), or by its words:
# target: {column: loan_status, bad: [CHGOFF], good: [P I F]}
extra_features:               # optional: your own columns, used as model features
  numeric: [months_at_address, has_cosigner]
  categorical: [state]
formats:                      # optional, by warehouse or extra feature name: how values are written
  application_ts: {date: "%d-%b-%y %H:%M"}   # or {date: {format: ..., pivot_year: 1950}}
  annual_income: {number: {currency: "$", thousands: ",", decimal: "."}}
  interest_rate: {percent: true}                     # "7.5%" and "7.5" both read 0.075
  has_cosigner: {boolean: {true: [Y, "Yes"], false: [N, "No"]}}
values:                       # optional: your words onto the warehouse's vocabulary
  housing: {O: own, M: mortgage, R: rent}
```
Columns your file already names like the warehouse need no line. Unmapped columns are ignored.
Every scalar is read as the text written (``Yes`` stays ``Yes``, ``00`` stays ``00``); a value
a format cannot read is quarantined with its column, the format's rule and the value
(``pipelines.ingest.formats``). The README's "Formats in the mapping" lists every option.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.core.errors import CreditflowError, short
from pipelines.core.yaml_input import load_yaml_file
from pipelines.ingest.formats import (
    DEFAULT_PIVOT_YEAR,
    DateFormat,
    Format,
    NumberFormat,
    WordsFormat,
)
from pipelines.warehouse import schema

KINDS = ("applications", "loans", "repayments")
KEYS = {"applications": ["application_id"], "loans": ["loan_id"],
        "repayments": ["loan_id", "as_of_month"]}
REQUIRED = {
    "applications": ["application_id", "application_ts"],
    "loans": ["loan_id", "application_id", "origination_date", "loan_amount", "term_months",
              "interest_rate", "monthly_payment"],
    "repayments": ["loan_id", "as_of_month", "months_on_book", "dpd_bucket", "balance",
                   "status"],
}
TYPES: dict[str, dict[str, str]] = {
    "applications": schema.APPLICATION_COLUMNS,
    "loans": {"loan_id": "str", "application_id": "str", "origination_date": "date",
              "dealer_id": "str", "loan_amount": "float", "term_months": "int",
              "interest_rate": "float", "monthly_payment": "float"},
    "repayments": schema.REPAYMENT_COLUMNS,
}
# The warehouse words a ``values:`` map may translate into, per kind and column.
VOCABULARIES: dict[str, dict[str, list[str]]] = {
    "applications": schema.CATEGORIES, "loans": {},
    "repayments": {"dpd_bucket": schema.DPD_BUCKETS, "status": schema.LOAN_STATUSES},
}
# Which warehouse types each format may produce.
FORMAT_TYPES = {"date": ("datetime", "date"), "number": ("float", "int"),
                "percent": ("float",), "boolean": ("float", "int")}


class MappingError(CreditflowError):
    """The mapping file is unreadable or names something that does not exist."""


@dataclass(frozen=True)
class Mapping:
    kind: str
    columns: dict[str, str] = field(default_factory=dict)  # warehouse name -> source name
    target: str | None = None  # the source column of a final label
    extra_numeric: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()
    formats: dict[str, Format] = field(default_factory=dict)  # warehouse or extra name
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> yours: ours
    label: WordsFormat | None = None  # the target given by its words; None: 1 = bad, 0 = good

    @property
    def extras(self) -> tuple[str, ...]:
        return self.extra_numeric + self.extra_categorical

    def source_for(self, warehouse_name: str) -> str:
        return self.columns.get(warehouse_name, warehouse_name)

    def check_against(self, source_columns: list[str]) -> None:
        """Every mapped, required, target and extra column must exist in the file."""
        present = set(source_columns)
        wanted = {self.source_for(c): f"required column '{c}'" for c in REQUIRED[self.kind]}
        wanted |= {src: f"mapped column '{dst}'" for dst, src in self.columns.items()}
        if self.target:
            wanted[self.target] = "target column"
        wanted |= {c: "extra feature column" for c in self.extras}
        missing = [f"{why} -> '{short(src, 60)}'" for src, why in wanted.items()
                   if src not in present]
        if missing:
            has = short(", ".join(short(c, 60) for c in source_columns[:30]), 600)
            raise MappingError("columns missing from the file: " + short("; ".join(missing), 1000)
                               + f" (file has: {has})")


def load_mapping(path: Path | None, kind: str) -> Mapping:
    """Read and check a mapping file before anything is read or written with it: every name it
    gives is refused by name if it clashes with a warehouse column, a key or another entry."""
    if kind not in KINDS:
        raise MappingError(f"unknown kind '{kind}': expected one of {', '.join(KINDS)}")
    if path is None:
        return Mapping(kind=kind)
    raw = _read(Path(path))
    if raw.get("kind", kind) != kind:
        raise MappingError(f"mapping file {path} is for kind '{short(raw['kind'], 40)}', "
                           f"not '{kind}'")
    where = f"mapping file {path}"
    _known_entries(raw, _TOP_ENTRIES, where)
    columns = _names(raw.get("columns") or {}, "columns", where)
    extra = raw.get("extra_features") or {}
    if not isinstance(extra, dict):
        raise MappingError(f"{where}: extra_features must map numeric/categorical to lists")
    _known_entries(extra, _EXTRA_ENTRIES, f"{where}: extra_features")
    target, label = _target(raw.get("target"), where)
    mapping = Mapping(
        kind=kind, columns=columns, target=target, label=label,
        extra_numeric=_listed(extra.get("numeric"), "extra_features.numeric", where),
        extra_categorical=_listed(extra.get("categorical"), "extra_features.categorical", where),
        values=_values(raw.get("values"), kind, where))
    _check_names(mapping, where)
    return replace(mapping, formats=_formats(raw.get("formats"), mapping, where))


_TOP_ENTRIES = ("kind", "columns", "target", "extra_features", "formats", "values")
_EXTRA_ENTRIES = ("numeric", "categorical")


def _known_entries(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    """A misspelt entry (``colums:``) would otherwise be ignored, and the file load with none
    of the columns it meant to map."""
    unknown = sorted(str(k) for k in raw if str(k) not in allowed)
    if unknown:
        raise MappingError(f"{where}: unknown entry {', '.join(short(k, 40) for k in unknown)} "
                           f"(allowed: {', '.join(allowed)})")


def _read(path: Path) -> dict[str, Any]:
    raw = load_yaml_file(path, MappingError, "mapping file", text_scalars=True)
    if not isinstance(raw, dict):
        raise MappingError(f"mapping file {path}: expected a mapping at the top level")
    return raw


def _name(value: Any, entry: str, where: str) -> str:
    """A column name: YAML may read ``2024`` or ``true`` as a scalar, but not a list or map."""
    if isinstance(value, dict | list) or value is None:
        raise MappingError(f"{where}: {entry} must be a column name, "
                           f"got {short(value, 60)!r}")
    return str(value)


def _names(columns: Any, entry: str, where: str) -> dict[str, str]:
    if not isinstance(columns, dict):
        raise MappingError(f"{where}: {entry} must map warehouse names to your column names")
    return {_name(k, f"{entry} key", where): _name(v, f"{entry}.{short(k, 60)}", where)
            for k, v in columns.items()}


def _listed(values: Any, entry: str, where: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise MappingError(f"{where}: {entry} must be a list of column names")
    return tuple(_name(v, entry, where) for v in values)


def _check_names(mapping: Mapping, where: str) -> None:
    """Refuse, by entry, a name that would write over a warehouse column or a key (an extra
    feature ``annual_income`` nulled the real column, ``application_id`` broke the insert)
    or that the file would have to supply twice."""
    known = set(_warehouse_columns(mapping.kind))
    unknown = sorted(set(mapping.columns) - known)
    if unknown:
        raise MappingError(f"{where}: {', '.join(short(c, 60) for c in unknown)} are not "
                           f"warehouse columns of '{mapping.kind}' "
                           f"(known: {', '.join(sorted(known))})")
    stored = {c.name for c in schema.metadata.tables[mapping.kind].columns}
    roles = _roles(mapping, where)
    for name, entry in roles.items():
        if name in stored and entry != "target":  # a file's own known_bad may be the target
            what = "a key" if name in KEYS[mapping.kind] else "a column"
            raise MappingError(
                f"{where}: {entry} '{name}' is {what} of the warehouse table "
                f"'{mapping.kind}': map your column onto it under 'columns:' instead, or give "
                "the extra feature another name")
    sources = {mapping.source_for(c): f"the warehouse column '{c}'" for c in known}
    for name, entry in roles.items():
        if name in sources:
            raise MappingError(f"{where}: {entry} '{short(name, 60)}' is also read as "
                               f"{sources[name]}: one column of the file cannot be both")


def _roles(mapping: Mapping, where: str) -> dict[str, str]:
    """The entry naming each extra feature and the target; a column named twice is refused."""
    roles: dict[str, str] = {}
    for entry, names in (("extra_features.numeric", mapping.extra_numeric),
                         ("extra_features.categorical", mapping.extra_categorical),
                         ("target", (mapping.target,) if mapping.target else ())):
        for name in names:
            if name in roles:
                raise MappingError(f"{where}: '{short(name, 60)}' is named twice "
                                   f"({roles[name]} and {entry})")
            roles[name] = entry
    return roles


def _warehouse_columns(kind: str) -> list[str]:
    table = schema.metadata.tables[kind]
    return [c.name for c in table.columns if c.name not in ("batch_id", "extra", "known_bad")]


# -- formats, the target's words and values: maps ---------------------------------------------

def _target(raw: Any, where: str) -> tuple[str | None, WordsFormat | None]:
    """``target: defaulted`` (1 = bad, 0 = good) or ``{column: ..., bad: [...], good: [...]}``."""
    if raw is None or not isinstance(raw, dict):
        return (None if raw is None else _name(raw, "target", where)), None
    _known_entries(raw, ("column", "bad", "good"), f"{where}: target")
    if set(raw) != {"column", "bad", "good"}:
        raise MappingError(f"{where}: target must be a column name or "
                           "{column: <your column>, bad: [<words>], good: [<words>]}")
    entry = f"{where}: target"
    return _name(raw["column"], "target.column", where), _two_sets(
        "label", raw["bad"], raw["good"], ("bad", "good"), entry)


def _two_sets(name: str, ones: Any, zeros: Any, labels: tuple[str, str],
              where: str) -> WordsFormat:
    sets = [_words(v, f"{where}.{label}") for v, label in zip((ones, zeros), labels, strict=True)]
    both = sorted(set(sets[0]) & set(sets[1]))
    if both:
        raise MappingError(f"{where}: {short(', '.join(both), 200)} listed as both "
                           f"{labels[0]} and {labels[1]}")
    return WordsFormat(name, *sets)


def _words(values: Any, entry: str) -> tuple[str, ...]:
    listed = values if isinstance(values, list) else [values]
    if not listed or any(v is None or isinstance(v, dict | list) for v in listed):
        raise MappingError(f"{entry} must be a word or a list of words, got "
                           f"{short(values, 60)!r}")
    return tuple(str(v).strip() for v in listed)


def _values(raw: Any, kind: str, where: str) -> dict[str, dict[str, str]]:
    """``values: {column: {your word: warehouse word}}``, onto the warehouse's words only."""
    if raw is None:
        return {}
    vocabulary = VOCABULARIES[kind]
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: values must map a column to {{your word: warehouse word}}")
    out: dict[str, dict[str, str]] = {}
    for key, words in raw.items():
        column = _name(key, "values key", where)
        entry = f"{where}: values.{short(column, 60)}"
        if column not in vocabulary:
            raise MappingError(f"{entry}: not a warehouse column of '{kind}' with a vocabulary "
                               f"(those are: {', '.join(vocabulary) or 'none'})")
        if not isinstance(words, dict) or not words:
            raise MappingError(f"{entry} must map your words onto the warehouse's")
        out[column] = {_name(k, f"values.{column} key", where).strip():
                       _name(v, f"values.{column}", where) for k, v in words.items()}
        wrong = sorted({v for v in out[column].values() if v not in vocabulary[column]})
        if wrong:
            raise MappingError(f"{entry}: {short(', '.join(wrong), 200)} not warehouse words "
                               f"for {column} (allowed: {', '.join(vocabulary[column])})")
    return out


def _formats(raw: Any, mapping: Mapping, where: str) -> dict[str, Format]:
    """``formats: {column: {date|number|percent|boolean: options}}``, by warehouse name or
    extra feature name; a column this mapping does not read, or a format that cannot produce
    the column's type, is refused by name."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: formats must map column names to a format, "
                           'e.g. {application_ts: {date: "%d-%b-%y"}}')
    types = (TYPES[mapping.kind] | dict.fromkeys(mapping.extra_numeric, "float")
             | dict.fromkeys(mapping.extra_categorical, "str"))
    out: dict[str, Format] = {}
    for key, entry in raw.items():
        column = _name(key, "formats key", where)
        at = f"{where}: formats.{short(column, 60)}"
        if column == mapping.target:
            raise MappingError(f"{at}: the target's words go in target: "
                               "{column: ..., bad: [...], good: [...]}")
        if column not in types:
            raise MappingError(f"{at}: not a column of this mapping{_hint(column, mapping)} "
                               "(formats are keyed by the warehouse column or the extra "
                               "feature's name)")
        out[column] = _format(entry, types[column], at)
    return out


def _hint(column: str, mapping: Mapping) -> str:
    ours = [dst for dst, src in mapping.columns.items() if src == column]
    return f": your column '{short(column, 60)}' is read as '{ours[0]}', use that" if ours else ""


def _format(entry: Any, type_of: str, at: str) -> Format:
    if not isinstance(entry, dict) or not entry:
        raise MappingError(f"{at} must be one of {{date: ...}}, {{number: {{...}}}}, "
                           "{percent: true}, {boolean: {true: [...], false: [...]}}")
    _known_entries(entry, tuple(FORMAT_TYPES), at)
    if len(entry) > 1:
        raise MappingError(f"{at}: one format per column, got {', '.join(map(str, entry))}")
    (name, options), = entry.items()
    if type_of not in FORMAT_TYPES[name]:
        raise MappingError(f"{at}: a {name} format does not fit the {type_of} column "
                           f"(it fits {' or '.join(FORMAT_TYPES[name])} columns)")
    at = f"{at}.{name}"
    if name == "date":
        return _date(options, at)
    if name == "boolean":
        if not isinstance(options, dict):
            raise MappingError(f"{at} must be {{true: [<words>], false: [<words>]}}")
        _known_entries(options, ("true", "false"), at)
        return _two_sets("boolean", options.get("true"), options.get("false"),
                         ("true", "false"), at)
    return _number(options, at, percent=name == "percent")


def _date(options: Any, at: str) -> DateFormat:
    if not isinstance(options, dict):
        options = {"format": options}
    _known_entries(options, ("format", "pivot_year"), at)
    pattern = _name(options.get("format"), "format", at)
    if not _reads_back(pattern):
        raise MappingError(f"{at}: '{short(pattern, 60)}' is not a strptime format that "
                           "reads its own output (e.g. %d-%b-%y, %m/%d/%Y %H:%M)")
    pivot = str(options.get("pivot_year", DEFAULT_PIVOT_YEAR))
    if not pivot.isdigit() or not 1700 <= int(pivot) <= 2100:
        raise MappingError(f"{at}.pivot_year must be a year from 1700 to 2100, "
                           f"got {short(pivot, 20)!r}")
    return DateFormat(pattern, int(pivot))


def _number(options: Any, at: str, percent: bool) -> NumberFormat:
    if options in ("true", "True", "TRUE"):
        options = {}
    allowed = ("thousands", "decimal") if percent else ("currency", "thousands", "decimal")
    if not isinstance(options, dict):
        raise MappingError(f"{at} must be true or {{{': ..., '.join(allowed)}: ...}}")
    _known_entries(options, allowed, at)
    spec = {k: "" if v is None else str(v) for k, v in options.items()}
    spec.setdefault("decimal", ".")
    for key, symbol in spec.items():
        if any(c.isdigit() or c in "+-%" for c in symbol) or \
                (key != "currency" and len(symbol) > 1) or len(symbol) > 8:
            raise MappingError(f"{at}.{key}: '{short(symbol, 20)}' cannot be read around "
                               "digits (one character, or a currency of up to 8, no digit, "
                               "sign or %)")
    if not spec["decimal"] or spec["decimal"] in (spec.get("thousands"), spec.get("currency")):
        raise MappingError(f"{at}: the decimal mark must be set and differ from the others")
    return NumberFormat(percent=percent, **spec)


def _reads_back(pattern: str) -> bool:
    """A format pandas can parse its own rendering with: refuses a bad directive (``%Q``) and
    a format without one before any file is read."""
    if "%" not in pattern:
        return False
    try:
        sample = pd.Timestamp(2001, 2, 3, 4, 5, 6).strftime(pattern)
        return bool(pd.to_datetime(pd.Series([sample]), format=pattern).notna().all())
    except ValueError:
        return False
