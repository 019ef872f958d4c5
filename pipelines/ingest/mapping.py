"""Bring-your-own loan tapes: the YAML mapping from a lender's column names onto the warehouse's.

```yaml
kind: applications            # applications | loans | repayments
columns:                      # warehouse column: your column
  application_id: app_ref
  application_ts: submitted_at
  annual_income: income_yearly
target: defaulted_12m         # optional: a final label already known (1 = bad)
extra_features:               # optional: your own columns, used as model features
  numeric: [months_at_address]
  categorical: [state]
```
Columns your file already names like the warehouse need no line. Unmapped columns are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.core.errors import CreditflowError, short
from pipelines.core.yaml_input import load_yaml_file
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


class MappingError(CreditflowError):
    """The mapping file is unreadable or names something that does not exist."""


@dataclass(frozen=True)
class Mapping:
    kind: str
    columns: dict[str, str] = field(default_factory=dict)  # warehouse name -> source name
    target: str | None = None
    extra_numeric: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()

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
    target = raw.get("target")
    mapping = Mapping(
        kind=kind, columns=columns,
        target=None if target is None else _name(target, "target", where),
        extra_numeric=_listed(extra.get("numeric"), "extra_features.numeric", where),
        extra_categorical=_listed(extra.get("categorical"), "extra_features.categorical", where))
    _check_names(mapping, where)
    return mapping


_TOP_ENTRIES = ("kind", "columns", "target", "extra_features")
_EXTRA_ENTRIES = ("numeric", "categorical")


def _known_entries(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    """A misspelt entry (``colums:``) would otherwise be ignored, and the file load with none
    of the columns it meant to map."""
    unknown = sorted(str(k) for k in raw if str(k) not in allowed)
    if unknown:
        raise MappingError(f"{where}: unknown entry {', '.join(short(k, 40) for k in unknown)} "
                           f"(allowed: {', '.join(allowed)})")


def _read(path: Path) -> dict[str, Any]:
    raw = load_yaml_file(path, MappingError, "mapping file")
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
