"""The bridge between the early-performance target and the main (12-month) label.

The early target (e.g. 60+ days past due within 6 months on book) matures in half a year; the
main label needs a year. On vintages where both have matured, the bridge measures two roll-
through rates: the share of early bads that go on to be bad within the main window, and the
share of early goods that still do (late defaults). With them an early bad rate ``e`` maps onto
the main scale as ``a * e + b * (1 - e)`` and a main-scale PD back onto the early scale, so a
calibrator fitted on early labels gives 12-month PDs, and a 12-month PD can be judged against
early labels before the year has passed. The bridge assumes those roll-through rates hold for
the newer vintages; monitoring reports them per measurement so a change in them is seen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

_TIE_BREAK = 1e-9


class BridgeError(ValueError):
    """The bridge cannot be measured (no early bad or no early good, or no separation)."""


@dataclass(frozen=True)
class TargetBridge:
    n: int  # loans with both labels matured
    early_bads: int
    final_bads: int
    final_if_early_bad: float  # a: P(main bad | early bad)
    final_if_early_good: float  # b: P(main bad | early good)

    @property
    def early_rate(self) -> float:
        return self.early_bads / self.n

    @property
    def final_rate(self) -> float:
        return self.final_bads / self.n

    def to_final(self, p_early: ArrayLike) -> np.ndarray:
        """Early-scale probabilities (or rates) on the main label's scale."""
        p = np.asarray(p_early, dtype=float)
        return self.final_if_early_bad * p + self.final_if_early_good * (1.0 - p)

    def to_early(self, p_final: ArrayLike) -> np.ndarray:
        """Main-scale PDs on the early label's scale: the inverse map, clipped to [0, 1] and
        kept strictly increasing (a part in 1e9 of the PD itself is added), so PDs below the
        early goods' late-default rate do not tie at 0: the ranking, and so AUC and KS, stay
        the model's own."""
        a, b = self.final_if_early_bad, self.final_if_early_good
        p = np.asarray(p_final, dtype=float)
        return np.clip((p - b) / (a - b), 0.0, 1.0) * (1.0 - _TIE_BREAK) + _TIE_BREAK * p

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "early_rate": self.early_rate, "final_rate": self.final_rate}


def target_bridge(early_bad: ArrayLike, final_bad: ArrayLike) -> TargetBridge:
    """The bridge measured on loans whose early and main labels have both matured (0/1 each,
    same rows; rows with a NaN in either are left out)."""
    e = np.asarray(early_bad, dtype=float)
    f = np.asarray(final_bad, dtype=float)
    if e.shape != f.shape:
        raise BridgeError(f"early labels have {e.size} rows, main labels {f.size}")
    keep = ~(np.isnan(e) | np.isnan(f))
    e, f = e[keep].astype(bool), f[keep].astype(bool)
    if not (e.any() and (~e).any()):
        raise BridgeError(f"the bridge needs early bads and early goods: {int(e.sum())} early "
                          f"bads in {e.size} loans with both labels")
    a, b = float(f[e].mean()), float(f[~e].mean())
    if not a > b:
        raise BridgeError(f"early bads are no likelier to be main bads ({a:.3f}) than early "
                          f"goods ({b:.3f}): the early target says nothing about the main one")
    return TargetBridge(int(e.size), int(e.sum()), int(f.sum()), a, b)
