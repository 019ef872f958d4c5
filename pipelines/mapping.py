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

import yaml

from pipelines import schema
from pipelines.errors import CreditflowError

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
        missing = [f"{why} -> '{src}'" for src, why in wanted.items() if src not in present]
        if missing:
            raise MappingError("columns missing from the file: " + "; ".join(missing)
                               + f" (file has: {', '.join(source_columns[:30])})")


def load_mapping(path: Path | None, kind: str) -> Mapping:
    if kind not in KINDS:
        raise MappingError(f"unknown kind '{kind}': expected one of {', '.join(KINDS)}")
    if path is None:
        return Mapping(kind=kind)
    if not Path(path).is_file():
        raise MappingError(f"mapping file not found: {path}")
    try:
        raw: dict[str, Any] = yaml.safe_load(Path(path).read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise MappingError(f"mapping file {path}: expected a mapping at the top level")
    if raw.get("kind", kind) != kind:
        raise MappingError(f"mapping file {path} is for kind '{raw['kind']}', not '{kind}'")
    columns = {str(k): str(v) for k, v in (raw.get("columns") or {}).items()}
    known = set(_warehouse_columns(kind))
    unknown = sorted(set(columns) - known)
    if unknown:
        raise MappingError(f"mapping file {path}: {', '.join(unknown)} are not warehouse "
                           f"columns of '{kind}' (known: {', '.join(sorted(known))})")
    extra = raw.get("extra_features") or {}
    return Mapping(kind=kind, columns=columns, target=raw.get("target"),
                   extra_numeric=tuple(extra.get("numeric") or ()),
                   extra_categorical=tuple(extra.get("categorical") or ()))


def _warehouse_columns(kind: str) -> list[str]:
    table = schema.metadata.tables[kind]
    return [c.name for c in table.columns if c.name not in ("batch_id", "extra", "known_bad")]
