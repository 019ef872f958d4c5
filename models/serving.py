"""The registered PD model as MLflow serves it: a pyfunc that takes plain rows (what a JSON
request or a CSV delivers) and returns what daily scoring writes for them: calibrated PD, points,
decision and reason codes (``models.policy.score_rows``, the very function scoring calls).

A logged version holds ``artifacts/booster.ubj``, ``artifacts/spec.json`` (the PDModel spec:
features, categories, calibrator, reason texts) and ``artifacts/policy.json`` (scaling and
cut-offs in force at registration), the project's ``models`` package under ``code/`` so it loads
in a fresh process, and ``serving_entry.py`` (models-from-code: nothing is unpickled). The
SHA-256 of each artifact is in the MLmodel's ``model_config``; ``load_context`` refuses a file
that differs. That catches an edited artifact, not one edited together with MLmodel: the
registry's own loader checks every file against a digest kept in the registry database
(models.registry).

Together with the models.registry package, the only code that touches MLflow.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
import xgboost as xgb

from models.pd_model import NUMERIC, ModelSignatureError, PDModel
from models.policy import OUTPUT_COLUMNS, ScoringPolicy, score_rows

ARTIFACTS = {"booster": "booster.ubj", "spec": "spec.json", "policy": "policy.json"}
ENTRY_POINT = Path(__file__).with_name("serving_entry.py")
SHA256_KEY = "artifacts_sha256"


class TamperedModelError(RuntimeError):
    """A model file differs from the checksum recorded when it was registered."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(root: str | Path) -> dict[str, str]:
    """relative POSIX path -> SHA-256 of every file under ``root``, sorted by path."""
    base = Path(root)
    files = sorted(p for p in base.rglob("*") if p.is_file())
    return {p.relative_to(base).as_posix(): sha256_file(p) for p in files}


def tree_digest(digests: dict[str, str]) -> str:
    """One SHA-256 over the sorted (path, file digest) pairs: a renamed, added or removed file
    changes it as surely as an edited one."""
    lines = "".join(f"{path}\0{sha}\n" for path, sha in sorted(digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def write_artifacts(model: PDModel, policy: ScoringPolicy, folder: Path) -> dict[str, str]:
    """The pyfunc's artifact files in ``folder``; returns name -> path for ``log_model``."""
    paths = {key: folder / file for key, file in ARTIFACTS.items()}
    model.booster.save_model(str(paths["booster"]))
    # JSON floats round-trip exactly: the served calibrator is bit-equal to the trained one
    paths["spec"].write_text(json.dumps(model.spec(), indent=1, sort_keys=True))
    paths["policy"].write_text(json.dumps(policy.to_dict(), indent=1, sort_keys=True))
    return {key: str(path) for key, path in paths.items()}


def read_artifacts(paths: dict[str, str]) -> tuple[xgb.Booster, dict[str, Any], ScoringPolicy]:
    """(booster, spec, policy) from the artifact files ``write_artifacts`` wrote."""
    booster = xgb.Booster()
    booster.load_model(paths["booster"])
    spec = json.loads(Path(paths["spec"]).read_text())
    policy = ScoringPolicy.from_dict(json.loads(Path(paths["policy"]).read_text()))
    return booster, spec, policy


def verify_artifacts(paths: dict[str, str], expected: dict[str, str]) -> None:
    """TamperedModelError naming the first artifact whose SHA-256 is not the recorded one."""
    for key in ARTIFACTS:
        if key not in expected or key not in paths:
            raise TamperedModelError(f"no recorded checksum for the model artifact {key!r}")
        if sha256_file(paths[key]) != expected[key]:
            raise TamperedModelError(f"model artifact {Path(paths[key]).name} differs from the "
                                     "SHA-256 recorded when the model was registered")


def plain_rows(model: PDModel, X: pd.DataFrame) -> pd.DataFrame:
    """Rows as a client sends them: categories as strings, numbers as floats, None for
    missing (the logged input example: valid JSON, no NaN)."""
    out = model.check_frame(X).astype(object)
    return out.where(out.notna(), None)


def as_model_input(model: PDModel, frame: pd.DataFrame) -> pd.DataFrame:
    """A plain frame of the model's columns (any order) as the PDModel takes it: numbers or
    numeric strings -> float, category values as strings. Anything else is a
    ModelSignatureError naming the column."""
    if not isinstance(frame, pd.DataFrame):
        raise ModelSignatureError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if set(frame.columns) == set(model.feature_names):
        frame = frame[model.feature_names]
    model.check_frame(frame.iloc[:0].astype(object))  # names only: missing/extra columns
    out = {}
    for col in model.feature_names:
        values = frame[col]
        if model.feature_dtypes[col] == NUMERIC:
            out[col] = _numbers(col, values)
        elif isinstance(values.dtype, pd.CategoricalDtype):
            out[col] = values
        else:
            out[col] = values.astype(object).where(values.notna(), None)
    return model.check_frame(pd.DataFrame(out, index=frame.index))


def _numbers(col: str, values: pd.Series) -> pd.Series:
    """Floats by Python's ``float`` (exact for the shortest repr a client prints)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        raise ModelSignatureError(f"{col}: expected numbers or numeric strings, got booleans")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype(float)
    out, bad = [], []
    for v in values.astype(object):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(math.nan)
            continue
        try:
            if isinstance(v, bool):
                raise ValueError(v)
            out.append(float(v))
        except (TypeError, ValueError):
            bad.append(repr(v))
    if bad:
        raise ModelSignatureError(f"{col}: expected numbers or numeric strings, got "
                                  f"{', '.join(bad[:5])}")
    return pd.Series(out, index=values.index, dtype=float)


class PDPyfunc(mlflow.pyfunc.PythonModel):
    """Built afresh by ``serving_entry.py``; everything it knows comes from the artifacts."""

    def load_context(self, context: Any) -> None:
        expected = (context.model_config or {}).get(SHA256_KEY, {})
        verify_artifacts(context.artifacts, expected)
        booster, spec, self.policy = read_artifacts(context.artifacts)
        self.model = PDModel.from_spec(booster, spec)

    # pd.DataFrame is the one hint MLflow neither warns about (unannotated, it asks for hints on
    # every import, above the CLI's one-line errors) nor reads as a schema of its own: the
    # logged signature stays the schema.
    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = as_model_input(self.model, model_input)
        out = score_rows(self.model, frame, self.policy)
        return out[list(OUTPUT_COLUMNS)].reset_index(drop=True)
