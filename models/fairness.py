"""The fair-lending report: outcomes by age band and by proxy segments, and the adverse-impact
ratio of each group against the most favoured one.

Pure arithmetic on a frame of decided applications (columns ``decision`` and ``pd``, optionally
``bad``: 1/0 for a matured loan, NaN otherwise) plus the segment columns. For every dimension
present (age band, region, channel, housing: whichever the book carries), each group gets its
applications, approval rate, mean PD and realised bad rate; its adverse-impact ratio is its
approval rate over the highest approval rate among groups large enough to judge (the most
favoured group), and it is flagged below ``floor`` (the four-fifths rule: 0.8). A group smaller
than ``min_rows`` is reported without a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd

APPROVE = "approve"
AGE_DIMENSION = "age_band"
COLUMNS = ["dimension", "group", "n", "approval_rate", "mean_pd", "n_labelled", "bad_rate",
           "adverse_impact_ratio", "judged", "flagged"]


def age_bands(ages: pd.Series, starts: Sequence[int]) -> pd.Series:
    """Band labels: ``<25``, ``25-34``, ..., ``62+`` for starts (25, 35, 45, 62); NaN ages
    stay missing."""
    edges = sorted(int(s) for s in starts)
    if not edges:
        raise ValueError("age bands need at least one starting age")
    labels = [f"<{edges[0]}"] + [f"{a}-{b - 1}" for a, b in pairwise(edges)]
    labels.append(f"{edges[-1]}+")
    values = pd.to_numeric(ages, errors="coerce").to_numpy(dtype=float)
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
    out = np.asarray(labels, dtype=object)[np.clip(index, 0, len(labels) - 1)]
    out[np.isnan(values)] = None
    return pd.Series(out, index=ages.index, dtype=object)


def fair_lending_table(frame: pd.DataFrame, dimensions: Sequence[str], min_rows: int,
                       floor: float) -> pd.DataFrame:
    """One row per (dimension, group) of every dimension that is a column of ``frame`` with at
    least one value; columns ``COLUMNS``."""
    parts = [_dimension(frame, d, min_rows, floor) for d in dimensions
             if d in frame.columns and frame[d].notna().any()]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _dimension(frame: pd.DataFrame, dimension: str, min_rows: int,
               floor: float) -> pd.DataFrame:
    bad = frame["bad"] if "bad" in frame.columns else pd.Series(np.nan, index=frame.index)
    data = pd.DataFrame({"group": frame[dimension].astype(object),
                         "approved": (frame["decision"] == APPROVE).astype(float),
                         "pd": frame["pd"].astype(float), "bad": bad.astype(float)})
    data = data[data["group"].notna()]
    out = data.groupby("group", sort=True).agg(
        n=("approved", "size"), approval_rate=("approved", "mean"), mean_pd=("pd", "mean"),
        n_labelled=("bad", "count"), bad_rate=("bad", "mean")).reset_index()
    out["group"] = out["group"].astype(str)
    out["judged"] = out["n"] >= min_rows
    best = out.loc[out["judged"], "approval_rate"].max()
    out["adverse_impact_ratio"] = (out["approval_rate"] / best
                                   if pd.notna(best) and best > 0 else np.nan)
    out["flagged"] = out["judged"] & (out["adverse_impact_ratio"] < floor)
    out.insert(0, "dimension", dimension)
    return out


def flagged_groups(table: pd.DataFrame) -> list[str]:
    """``dimension=group`` of every flagged row, for messages."""
    rows = table[table["flagged"].astype(bool)]
    return [f"{r.dimension}={r.group}" for r in rows.itertuples()]
