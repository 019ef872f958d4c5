"""The reference sample: training-window features with raw and calibrated PD, logged on the
training run, that monitoring compares each day's applications against."""

from __future__ import annotations

import tempfile

import pandas as pd

from models.pd_model import PDModel
from models.registry.aliases import _model_version, _resolve_version
from models.registry.runs import TrackedRun
from models.registry.store import RegistryError, _global_uri, client_for

REFERENCE_DIR, REFERENCE_FILE = "reference", "reference.parquet"
REFERENCE_MAX_ROWS = 20_000
RAW_PD_COL, PD_COL = "raw_pd", "pd"


def build_reference(model: PDModel, X: pd.DataFrame, max_rows: int = REFERENCE_MAX_ROWS,
                    seed: int = 0) -> pd.DataFrame:
    """The model's features plus raw and calibrated PD for at most ``max_rows`` rows of ``X``
    (a seeded sample). ``X``'s other columns are left out after sampling: selecting the
    features of a million-row window first copied all of it (over a second) for 20,000 rows."""
    features = set(model.feature_names)
    clash = {RAW_PD_COL, PD_COL} & features
    if clash:
        raise RegistryError(f"feature names clash with reference columns: {sorted(clash)}")
    sample = X.sample(n=max_rows, random_state=seed) if len(X) > max_rows else X
    other = [c for c in sample.columns if c not in features]
    sample = model.check_frame(sample.drop(columns=other)).reset_index(drop=True)
    out = sample.copy()
    out[RAW_PD_COL] = model.raw_proba(sample)
    out[PD_COL] = model.calibrator.transform(out[RAW_PD_COL].to_numpy())
    return out


def log_reference(run: TrackedRun, reference: pd.DataFrame,
                  max_rows: int = REFERENCE_MAX_ROWS) -> None:
    """The training-window reference sample as ``reference/reference.parquet`` on the run."""
    if len(reference) > max_rows:
        raise RegistryError(f"reference holds {len(reference)} rows; at most {max_rows} allowed")
    run.log_frame(reference, f"{REFERENCE_DIR}/{REFERENCE_FILE}")


def load_reference(tracking_uri: str, name: str, alias: str | None = None,
                   version: str | None = None) -> pd.DataFrame:
    ver = _resolve_version(tracking_uri, name, alias, version)
    run_id = _model_version(tracking_uri, name, ver).run_id
    try:
        with tempfile.TemporaryDirectory() as tmp, _global_uri(tracking_uri):
            path = client_for(tracking_uri).download_artifacts(
                run_id, f"{REFERENCE_DIR}/{REFERENCE_FILE}", tmp)
            return pd.read_parquet(path)
    except Exception as exc:
        raise RegistryError(f"reference sample of {name} version {ver} (run {run_id}) cannot be "
                            f"read: {type(exc).__name__}: {exc}") from exc

