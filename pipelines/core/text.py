"""Values as the warehouse and reports store them: a row's natural key as text, and any value
with the bytes PostgreSQL text refuses escaped. Shared by the quarantine, the gate and the
pseudonymisation of keys, so a key reads the same wherever it appears."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd


def record_keys(frame: pd.DataFrame, key: Iterable[str]) -> list[str | None]:
    """The natural key of each row as text ("A1" or "L7|2024-01-31"); None if any part is null."""
    cols = [c for c in key if c in frame.columns]
    if not cols:
        return [None] * len(frame)
    parts = [frame[c].astype(object).to_numpy() for c in cols]
    return [None if any(pd.isna(p) for p in row) else "|".join(key_text(p) for p in row)
            for row in zip(*parts, strict=True)]


def key_text(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.isoformat() if (value.hour or value.minute or value.second) \
            else value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return printable(value)


def printable(value: object) -> str:
    """The value as storable text: surrogate-escaped bytes (non-UTF-8 input) and NUL (which
    PostgreSQL text refuses) written as backslash escapes."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")
