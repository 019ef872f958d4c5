"""The book's data contract: what this lender provides, declared once, checked on every batch.

A lender's files carry some of the warehouse's columns, never all (a book without vehicles has no
``vehicle_price``). The first accepted batch of a kind that brings a column with a value in it
declares that column for the book (``book_contract``); from then on:

- an ingest batch without a declared column is rejected, naming the column and the batch that
  declared it (a mostly-empty one is rejected by the suite's ``max_null_share``, as before);
- a later batch that brings a new column extends the contract (reported as declared);
- scoring re-validates a day on the columns the book declared and the champion uses, not on the
  warehouse's full schema: a column this lender never had is not "95% missing".

A book with no contract yet (a warehouse filled around the gate, as the simulator's history is)
is checked on every suite column, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from pipelines.validation.quarantine import Suite
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.validation import book_contract


@dataclass(frozen=True)
class Contract:
    kind: str
    declared: dict[str, str] = field(default_factory=dict)  # column -> batch that declared it

    @property
    def empty(self) -> bool:
        return not self.declared


def load_contract(wh: Warehouse, kind: str) -> Contract:
    rows = book_contract(wh, kind)
    return Contract(kind, dict(zip(rows["column_name"], rows["declared_by"], strict=True)))


def provided_columns(frame: pd.DataFrame, suite: Suite) -> list[str]:
    """The suite's columns this batch brings with at least one value."""
    return [name for name in suite.columns
            if name in frame.columns and frame[name].notna().any()]


def missing_declared(frame: pd.DataFrame, contract: Contract) -> list[str]:
    """A batch-level failure per declared column absent from the batch."""
    return [f"expect_column_to_exist(column={name}): failed [the book's data contract declares "
            f"it, first brought by batch {batch}]" for name, batch in contract.declared.items()
            if name not in frame.columns]


def newly_provided(frame: pd.DataFrame, suite: Suite, contract: Contract) -> list[str]:
    return [c for c in provided_columns(frame, suite) if c not in contract.declared]


def unchecked_columns(suite: Suite, contract: Contract, used: Iterable[str]) -> list[str]:
    """The suite's columns a re-validation leaves out: neither key nor required, not declared
    by the book and not used by the models (none when the book has no contract yet)."""
    if contract.empty:
        return []
    keep = set(suite.key) | set(suite.required_columns) | set(contract.declared) | set(used)
    return [c for c in suite.columns if c not in keep]
