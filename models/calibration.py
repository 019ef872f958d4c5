"""Calibration of the booster's raw probability into a PD, fitted on a held-out time slice.

The fitted state is plain floats (isotonic breakpoints or Platt coefficients) and ``transform`` is
computed from that state alone, so a calibrator restored with ``from_dict`` gives bit-identical PDs
to the one that was fitted. sklearn is used only to fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import expit, logit

Method = Literal["isotonic", "platt"]
# Calibrated PDs are kept off exactly 0 and 1: isotonic regression returns 0 for a block of low
# raw scores without a bad, and no applicant is risk-free.
PD_FLOOR, PD_CEIL = 1e-6, 1.0 - 1e-6
_RAW_CLIP = (1e-7, 1.0 - 1e-7)  # logit of the raw probability must be finite for Platt


class CalibrationError(ValueError):
    """The calibrator cannot be fitted, used or restored; the message says why."""


@dataclass
class Calibrator:
    """``Calibrator("isotonic").fit(p_raw, y)``; then ``transform(p_raw) -> pd``."""

    method: Method = "isotonic"
    x_thresholds: list[float] = field(default_factory=list)  # isotonic breakpoints (raw prob)
    y_thresholds: list[float] = field(default_factory=list)  # isotonic PDs at the breakpoints
    coef: float | None = None  # Platt: pd = expit(coef * logit(p_raw) + intercept)
    intercept: float | None = None
    n_fit: int = 0
    n_bad_fit: int = 0
    # Fitted on a shorter-window label: models.bridge's ratio k maps its probability p onto
    # the main label's scale as k * p. A pair (a, b), as models stored before the ratio have
    # it, maps as a * p + b * (1 - p). None: fitted on the main label itself.
    bridge: float | tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.method not in ("isotonic", "platt"):
            raise CalibrationError(
                f"calibration method must be isotonic or platt, got {self.method!r}")

    @property
    def fitted(self) -> bool:
        return bool(self.x_thresholds) if self.method == "isotonic" else self.coef is not None

    def fit(self, p_raw: ArrayLike, y: ArrayLike) -> Calibrator:
        p, yy = _check(p_raw, "p_raw"), np.asarray(y, dtype=float).ravel()
        if p.shape != yy.shape:
            raise CalibrationError(f"p_raw has {p.size} rows but y has {yy.size}")
        n_bad = int(yy.sum())
        if n_bad == 0 or n_bad == yy.size:
            raise CalibrationError(
                f"calibration slice needs goods and bads; got {n_bad} bads in {yy.size} rows")
        if self.method == "isotonic":
            self._fit_isotonic(p, yy)
        else:
            self._fit_platt(p, yy)
        self.n_fit, self.n_bad_fit = int(yy.size), n_bad
        return self

    def _fit_isotonic(self, p: np.ndarray, y: np.ndarray) -> None:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        iso.fit(p, y)
        self.x_thresholds = [float(v) for v in iso.X_thresholds_]
        self.y_thresholds = [float(v) for v in iso.y_thresholds_]

    def _fit_platt(self, p: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        z = logit(np.clip(p, *_RAW_CLIP)).reshape(-1, 1)
        lr = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000)  # unpenalised
        lr.fit(z, y.astype(int))
        self.coef, self.intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])

    def refit_level(self, p_raw: ArrayLike, y: ArrayLike) -> Calibrator:
        """A Platt calibrator with this one's slope and its intercept refitted on ``y`` (the
        maximum-likelihood intercept: the mean probability equals the bad rate of ``y``),
        without a bridge. Recalibration in the large: when the ranking holds and the level
        moved, one parameter is learnt from a few dozen bads where two would be noise."""
        if self.method != "platt" or not self.fitted:
            raise CalibrationError("only a fitted Platt calibrator can refit its level")
        p, yy = _check(p_raw, "p_raw"), np.asarray(y, dtype=float).ravel()
        n_bad = int(yy.sum())
        if p.shape != yy.shape or n_bad in (0, yy.size):
            raise CalibrationError(f"a level refit needs goods and bads on the same rows; got "
                                   f"{n_bad} bads in {yy.size} labels for {p.size} rows")
        offset = self.coef * logit(np.clip(p, *_RAW_CLIP)) + self.intercept
        shift = brentq(lambda d: float(expit(offset + d).sum()) - n_bad, -30.0, 30.0)
        return replace(self, intercept=self.intercept + shift, n_fit=int(yy.size),
                       n_bad_fit=n_bad, bridge=None)

    def transform(self, p_raw: ArrayLike) -> np.ndarray:
        if not self.fitted:
            raise CalibrationError(f"{self.method} calibrator is not fitted")
        p = _check(p_raw, "p_raw")
        if self.method == "isotonic":
            # Linear interpolation between breakpoints, flat outside them: what sklearn's
            # IsotonicRegression(out_of_bounds="clip").predict computes.
            out = np.interp(p, self.x_thresholds, self.y_thresholds)
        else:
            out = expit(self.coef * logit(np.clip(p, *_RAW_CLIP)) + self.intercept)
        if isinstance(self.bridge, tuple):
            a, b = self.bridge
            out = a * out + b * (1.0 - out)
        elif self.bridge is not None:
            out = self.bridge * out
        return np.clip(out, PD_FLOOR, PD_CEIL)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state (Python floats repr round-trip exactly through JSON)."""
        return {
            "method": self.method,
            "x_thresholds": list(self.x_thresholds),
            "y_thresholds": list(self.y_thresholds),
            "coef": self.coef,
            "intercept": self.intercept,
            "n_fit": self.n_fit,
            "n_bad_fit": self.n_bad_fit,
            "bridge": list(self.bridge) if isinstance(self.bridge, tuple) else self.bridge,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        try:
            cal = cls(
                method=data["method"],
                x_thresholds=[float(v) for v in data.get("x_thresholds") or []],
                y_thresholds=[float(v) for v in data.get("y_thresholds") or []],
                coef=None if data.get("coef") is None else float(data["coef"]),
                intercept=None if data.get("intercept") is None else float(data["intercept"]),
                n_fit=int(data.get("n_fit", 0)),
                n_bad_fit=int(data.get("n_bad_fit", 0)),
                bridge=_bridge(data.get("bridge")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"cannot restore calibrator from {sorted(data)}: {exc}") from exc
        if len(cal.x_thresholds) != len(cal.y_thresholds):
            raise CalibrationError("isotonic thresholds differ in length")
        if not cal.fitted:
            raise CalibrationError(f"restored {cal.method} calibrator holds no fitted state")
        return cal


def _check(p_raw: ArrayLike, name: str) -> np.ndarray:
    p = np.asarray(p_raw, dtype=float).ravel()
    if p.size == 0:
        raise CalibrationError(f"{name} is empty")
    if np.isnan(p).any() or p.min() < 0.0 or p.max() > 1.0:
        raise CalibrationError(f"{name} must be probabilities in [0, 1] without NaN")
    return p


def _bridge(value: Any) -> float | tuple[float, float] | None:
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    return float(value[0]), float(value[1])
