"""Feature and score drift of a pooled window against the champion's training reference.

Two views, on purpose:
- our own CSI per feature and PSI of the score, on every row of the window, with bins fixed from
  the reference (``models.metrics.psi_edges``; categorical features get one bin per reference
  category, one for levels the reference never had, and one for missing); bands from config;
- Evidently 0.7's ``DataDriftPreset`` on a seeded sample of at most ``evidently_sample_rows`` rows
  per side (its cost grows with rows, its verdict does not need a million), giving a drift score
  per feature under Evidently's own test and the drifted share; the HTML report is what a person
  opens. Features listed in ``trend_features`` (cumulative counts that grow with the book) are
  left out of Evidently and of the drifted share; their CSI is still computed and stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.metrics import psi, psi_band, psi_edges
from pipelines.core.errors import CreditflowError

CSI_COLUMNS = ["feature", "kind", "value", "band", "trend", "ref_missing", "cur_missing"]
EVIDENTLY_COLUMNS = ["feature", "method", "threshold", "score", "drifted"]


class DriftInputError(CreditflowError):
    """The reference or the window cannot be compared (missing columns, no rows)."""


@dataclass
class EvidentlyResult:
    table: pd.DataFrame  # EVIDENTLY_COLUMNS
    drifted_share: float
    drifted_count: int
    sample_rows: tuple[int, int]  # (reference, current) rows Evidently saw
    html_path: Path | None = None
    raw: dict = field(default_factory=dict)


def is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype))


def check_columns(reference: pd.DataFrame, current: pd.DataFrame,
                  features: Sequence[str]) -> None:
    for name, frame in (("reference", reference), ("window", current)):
        missing = [f for f in features if f not in frame.columns]
        if missing:
            raise DriftInputError(f"the {name} lacks the champion's feature column(s) "
                                  f"{', '.join(missing)}")


# ---------------------------------------------------------------------------------------------
# our CSI / PSI


def _levels(ref: pd.Series) -> list[str]:
    if isinstance(ref.dtype, pd.CategoricalDtype):
        return [str(c) for c in ref.dtype.categories]
    return sorted({str(v) for v in ref.dropna().unique()})


def _category_codes(s: pd.Series, levels: list[str]) -> np.ndarray:
    """Float codes: the level's position, ``len(levels)`` for a level the reference never had,
    NaN for missing, so ``models.metrics.psi`` bins categories exactly like numbers."""
    if isinstance(s.dtype, pd.CategoricalDtype) and [str(c) for c in s.dtype.categories] == levels:
        codes = s.cat.codes.to_numpy().astype(float)  # the builder's own coding: no string pass
        codes[codes < 0] = np.nan
        return codes
    values = s.astype(object)
    present = values.notna().to_numpy()
    text = values.where(~present, values.astype(str))
    codes = pd.Categorical(text, categories=levels).codes.astype(float)
    codes[codes < 0] = float(len(levels))
    codes[~present] = np.nan
    return codes


def feature_csi(ref: pd.Series, cur: pd.Series, bins: int, eps: float) -> tuple[float, str]:
    """(CSI, kind) of one feature: quantile bins of the reference for numbers, one bin per
    reference category (plus 'unseen' and 'missing') for categories."""
    if is_categorical(ref) or is_categorical(cur):
        levels = _levels(ref)
        edges = np.concatenate([[-np.inf], np.arange(len(levels)) + 0.5, [np.inf]])
        return psi(_category_codes(ref, levels), _category_codes(cur, levels), edges=edges,
                   eps=eps), "category"
    r = ref.to_numpy(dtype=float, na_value=np.nan)
    c = cur.to_numpy(dtype=float, na_value=np.nan)
    return psi(r, c, edges=psi_edges(r, bins), eps=eps), "numeric"


def csi_table(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str],
              bins: int, eps: float, bands: tuple[float, float],
              trend_features: Sequence[str] = ()) -> pd.DataFrame:
    """CSI, kind, band and missing shares per feature, largest CSI first."""
    check_columns(reference, current, features)
    if reference.empty or current.empty:
        raise DriftInputError(f"CSI needs rows on both sides; reference has {len(reference)}, "
                              f"window {len(current)}")
    rows = []
    for f in features:
        value, kind = feature_csi(reference[f], current[f], bins, eps)
        rows.append([f, kind, value, psi_band(value, bands), f in set(trend_features),
                     float(reference[f].isna().mean()), float(current[f].isna().mean())])
    out = pd.DataFrame(rows, columns=CSI_COLUMNS)
    return out.sort_values("value", ascending=False, ignore_index=True)


def score_psi(reference_scores: np.ndarray, current_scores: np.ndarray, bins: int, eps: float,
              bands: tuple[float, float]) -> tuple[float, str]:
    """PSI of the score with the reference's fixed decile edges, and its band. Pass PDs or
    unrounded points: any monotone transform of the score gives the same bins and value, but
    rounding one side moves tied values across an edge."""
    ref = np.asarray(reference_scores, dtype=float)
    value = psi(ref, np.asarray(current_scores, dtype=float), edges=psi_edges(ref, bins),
                eps=eps)
    return value, psi_band(value, bands)


# ---------------------------------------------------------------------------------------------
# Evidently


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=rows, random_state=seed) if len(frame) > rows else frame


def _evidently_frame(frame: pd.DataFrame, numeric: list[str], categorical: list[str]
                     ) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(frame)))
    for f in numeric:
        out[f] = frame[f].to_numpy(dtype=float, na_value=np.nan)
    for f in categorical:  # plain strings: Evidently's category handling wants no pandas dtype
        out[f] = frame[f].astype(object).where(frame[f].notna(), None).map(
            lambda v: None if v is None else str(v)).to_numpy()
    return out


def evidently_inputs(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str],
                     sample_rows: int, seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """The seeded samples of both sides as Evidently reads them, and the numeric and
    categorical feature names (the drift report and the workspace snapshot share them)."""
    check_columns(reference, current, features)
    feats = list(features)
    categorical = [f for f in feats if is_categorical(reference[f])]
    numeric = [f for f in feats if f not in categorical]
    ref = _evidently_frame(_sample(reference, sample_rows, seed), numeric, categorical)
    cur = _evidently_frame(_sample(current, sample_rows, seed), numeric, categorical)
    return ref, cur, numeric, categorical


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str],
                    sample_rows: int, drift_share: float, method: str | None, seed: int,
                    html_path: Path | None = None) -> EvidentlyResult:
    """Run ``DataDriftPreset``'s drift table on samples of both sides; read the drifted share
    from ``json.loads(snapshot.json())`` and the per-feature tests from the table the report
    shows; save the HTML report if asked."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.metrics import DataDriftTable

    feats = list(features)
    ref, cur, numeric, categorical = evidently_inputs(reference, current, feats, sample_rows,
                                                      seed)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = _drift_table_preset()(columns=feats, drift_share=drift_share, method=method)
    snapshot = Report([preset], include_tests=False).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition))
    raw = json.loads(snapshot.json())
    # the table the preset rendered: the run's context keeps it, so this reads, not recomputes
    shown = snapshot.context.get_legacy_metric(DataDriftTable(columns=feats, stattest=method),
                                               None, None)[0]
    share, count = _drifted_count(raw)
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    return EvidentlyResult(_column_table(shown.drift_by_columns, feats, method), share, count,
                           (len(ref), len(cur)), html_path, raw)


@lru_cache(maxsize=1)
def _drift_table_preset() -> type:
    """Evidently's ``DataDriftPreset`` without its per-column ``ValueDrift`` metrics. The
    preset's HTML is drawn from its drift table alone, while each ``ValueDrift`` draws plotly
    figures of its own that the HTML never shows: about half of a report's seconds (3.1-3.6 s
    instead of 5.1-6.2 s on 33 features and 5,000 rows a side here, the same HTML). The table
    holds the same per-column tests, scores and verdicts."""
    from evidently.metrics import DriftedColumnsCount
    from evidently.presets import DataDriftPreset

    class DriftTablePreset(DataDriftPreset):
        def generate_metrics(self, context: Any) -> list[Any]:
            return [m for m in super().generate_metrics(context)
                    if isinstance(m, DriftedColumnsCount)]

    return DriftTablePreset


def _drifted_count(raw: dict) -> tuple[float, int]:
    """(share, count) of drifted columns from the snapshot's ``DriftedColumnsCount``."""
    for metric in raw.get("metrics", []):
        if str(metric.get("config", {}).get("type", "")).endswith("DriftedColumnsCount"):
            return float(metric["value"]["share"]), int(metric["value"]["count"])
    return float("nan"), 0


def _column_table(by_column: Mapping[str, Any], features: list[str],
                  method: str | None) -> pd.DataFrame:
    """EVIDENTLY_COLUMNS per feature from Evidently's per-column drift results (each with
    ``stattest_name``, ``stattest_threshold``, ``drift_score`` and ``drift_detected``); the
    method is the configured one, or the name of the test Evidently chose for the column."""
    rows = [[f, method or str(c.stattest_name), float(c.stattest_threshold),
             float(c.drift_score), bool(c.drift_detected)]
            for f in features if (c := by_column.get(f)) is not None]
    return pd.DataFrame(rows, columns=EVIDENTLY_COLUMNS)
