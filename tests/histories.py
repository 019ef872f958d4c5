"""Hand-written loan-outcome frames for the pure feature and label tests: the columns
``pipelines.warehouse.history.load_outcomes`` returns, from a few dates per loan."""

from __future__ import annotations

import pandas as pd

from features.outcome import HISTORY_COLUMNS, window_known_at


def complete_history(df: pd.DataFrame, months: int = 12,
                     tape_reach: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Add ``closed_month`` (NaT where not given) and ``window_known_at``, every tape month end
    up to ``tape_reach`` (default: the latest ``last_tape_month``) known on its own date."""
    out = df.copy()
    for col in ("origination_date", "first_bad_month", "closed_month", "last_tape_month"):
        out[col] = pd.to_datetime(out[col]) if col in out else pd.NaT
        out[col] = out[col].astype("datetime64[ns]")
    reach = pd.Timestamp(tape_reach) if tape_reach is not None else out["last_tape_month"].max()
    start = out["origination_date"].min()
    month_ends = (pd.date_range(start, reach, freq="ME") if pd.notna(start) and pd.notna(reach)
                  else pd.DatetimeIndex([]))
    out["window_known_at"] = window_known_at(out, months, pd.Series(month_ends, index=month_ends))
    return out[list(HISTORY_COLUMNS)]
