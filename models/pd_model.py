"""The PD model as one object: booster + calibrator + the exact feature contract it was trained on.

Frames must carry exactly ``feature_names`` in that order. Numeric features must be numeric;
categorical features may arrive as pandas Categorical or as strings (scoring reads strings from
SQL) and are re-coded onto the training categories, so a level never silently changes its code.
A level the model never saw is an error, not a silent "missing": validation should have caught it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from models.calibration import Calibrator
from models.reasons import contributions, top_reasons

SPEC_VERSION = 1
NUMERIC, CATEGORY = "float", "category"


class ModelSignatureError(ValueError):
    """A frame does not match the model's features; the message names the columns."""


def infer_feature_dtypes(X: pd.DataFrame) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(dtypes, categories) of a training frame: numeric -> "float", Categorical -> "category"."""
    dtypes: dict[str, str] = {}
    categories: dict[str, list[str]] = {}
    wrong = []
    for col in X.columns:
        dtype = X[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            dtypes[col] = CATEGORY
            categories[col] = [str(c) for c in dtype.categories]
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            dtypes[col] = NUMERIC
        else:
            wrong.append(f"{col} ({dtype})")
    if wrong:
        raise ModelSignatureError(
            f"training columns must be numeric or pandas Categorical: {', '.join(wrong)}")
    return dtypes, categories


@dataclass
class PDModel:
    booster: xgb.Booster
    calibrator: Calibrator
    feature_names: list[str]
    feature_dtypes: dict[str, str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    monotone: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # feature -> reason text
    name: str | None = None
    version: str | None = None
    run_id: str | None = None

    @classmethod
    def from_training(cls, booster: xgb.Booster, calibrator: Calibrator, X: pd.DataFrame,
                      monotone: dict[str, int], reasons: dict[str, str]) -> PDModel:
        """Build from the frame the booster was trained on (names, dtypes and categories)."""
        if booster.feature_names is not None and list(booster.feature_names) != list(X.columns):
            raise ModelSignatureError("booster feature names differ from the training frame's")
        dtypes, categories = infer_feature_dtypes(X)
        return cls(booster=booster, calibrator=calibrator, feature_names=list(X.columns),
                   feature_dtypes=dtypes, categories=categories,
                   monotone={k: int(v) for k, v in monotone.items() if k in dtypes},
                   reasons={k: v for k, v in reasons.items() if k in dtypes})

    # -- the feature contract -------------------------------------------------------------------

    def check_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """X itself if it matches; a copy if category codes had to be aligned (or an all-null
        object column made float); otherwise ModelSignatureError naming every missing, extra,
        misordered or mistyped column."""
        if not isinstance(X, pd.DataFrame):
            raise ModelSignatureError(f"expected a pandas DataFrame, got {type(X).__name__}")
        self._check_names(list(X.columns))
        problems: list[str] = []
        recoded: dict[str, Any] = {}
        for col in self.feature_names:
            if self.feature_dtypes[col] == NUMERIC:
                dtype = X[col].dtype
                if pd.api.types.is_object_dtype(dtype) and X[col].isna().all():
                    recoded[col] = X[col].astype(float)  # an all-null column read from SQL
                elif not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
                    problems.append(f"{col}: expected numeric, got {dtype}")
            else:
                fixed = self._category_column(col, X[col], problems)
                if fixed is not None:
                    recoded[col] = fixed
        if problems:
            raise ModelSignatureError("mistyped columns: " + "; ".join(problems))
        if not recoded:
            return X
        out = X.copy()
        for col, values in recoded.items():
            out[col] = values
        return out

    def _check_names(self, columns: list[str]) -> None:
        if columns == self.feature_names:
            return
        missing = [c for c in self.feature_names if c not in columns]
        extra = [c for c in columns if c not in self.feature_names]
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"extra columns {extra}")
        if not parts:
            parts.append(f"columns out of order; select X[model.feature_names] "
                         f"(expected {self.feature_names})")
        raise ModelSignatureError("frame does not match the model's features: " + "; ".join(parts))

    def _category_column(self, col: str, values: pd.Series,
                         problems: list[str]) -> pd.Categorical | None:
        known = self.categories.get(col, [])
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype) and [str(c) for c in dtype.categories] == known:
            return None
        if not (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype)
                or pd.api.types.is_string_dtype(dtype)):
            problems.append(f"{col}: expected categorical or string, got {dtype}")
            return None
        text = values.astype(object)
        present = text.notna()
        text = text.where(~present, text.astype(str))  # training categories are strings
        unseen = sorted(set(text[present].unique()) - set(known))
        if unseen:
            problems.append(f"{col}: levels never seen in training {unseen[:5]}")
            return None
        return pd.Categorical(text, categories=known)

    # -- predictions ----------------------------------------------------------------------------

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the booster (before calibration)."""
        return self.booster.inplace_predict(self.check_frame(X),
                                            predict_type="margin").astype(np.float64)

    def raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's probability (before calibration)."""
        return self.booster.inplace_predict(self.check_frame(X)).astype(np.float64)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of default."""
        return self.calibrator.transform(self.raw_proba(X))

    def contributions(self, X: pd.DataFrame, approx: bool = False) -> np.ndarray:
        return contributions(self.booster, self.check_frame(X), approx)

    def reason_codes(self, X: pd.DataFrame, k: int, approx: bool = False) -> np.ndarray:
        """(n, k) feature names pushing each row's risk up (None where fewer than k do)."""
        return top_reasons(self.contributions(X, approx), self.feature_names, k)

    # -- persistence (the registry stores this next to the booster) ------------------------------

    def spec(self) -> dict[str, Any]:
        return {
            "spec_version": SPEC_VERSION,
            "feature_names": list(self.feature_names),
            "feature_dtypes": dict(self.feature_dtypes),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "monotone": {k: int(v) for k, v in self.monotone.items()},
            "reasons": dict(self.reasons),
            "calibrator": self.calibrator.to_dict(),
        }

    @classmethod
    def from_spec(cls, booster: xgb.Booster, spec: dict[str, Any], name: str | None = None,
                  version: str | None = None, run_id: str | None = None) -> PDModel:
        if spec.get("spec_version") != SPEC_VERSION:
            raise ModelSignatureError(f"unsupported model spec version {spec.get('spec_version')}")
        return cls(booster=booster, calibrator=Calibrator.from_dict(spec["calibrator"]),
                   feature_names=list(spec["feature_names"]),
                   feature_dtypes=dict(spec["feature_dtypes"]),
                   categories={k: list(v) for k, v in spec.get("categories", {}).items()},
                   monotone={k: int(v) for k, v in spec.get("monotone", {}).items()},
                   reasons=dict(spec.get("reasons", {})), name=name, version=version,
                   run_id=run_id)
