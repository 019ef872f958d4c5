"""The bridge between the early-performance target and the main (12-month) label.

The early target (e.g. 60+ days past due within 6 months on book) matures in half a year; the
main label needs a year. On vintages where both have matured, the bridge measures the two
rates and the roll-through between them: the share of early bads that go on to be bad within the
main window (``final_if_early_bad``) and the share of early goods that still do (late defaults,
``final_if_early_good``), reported so a change in them is seen.

A probability or rate maps between the scales by the ratio of the two bad rates,
``k = final_rate / early_rate`` (main-window bads per early bad): a PD of the main label is ``k``
times the probability of an early bad, and back. The map is per loan: every applicant's early
bads are taken to be the same share of their 12-month bads. A map through the roll-through
rates, ``a * p + b * (1 - p)``, balances the whole book too, but gives every loan at least ``b``
(the average early good's late-default rate, about the approve cut-off's PD on an auto book):
safe applicants, whose late defaults are as rare as their early ones, would all look like the
average early good and be declined. The bridge assumes the ratio holds for the newer vintages;
monitoring reports it per measurement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike


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

    @property
    def ratio(self) -> float:
        """k: main-window bads per early bad."""
        return self.final_bads / self.early_bads

    def to_final(self, p_early: ArrayLike) -> np.ndarray:
        """Early-scale probabilities (or rates) on the main label's scale, at most 1."""
        return np.minimum(self.ratio * np.asarray(p_early, dtype=float), 1.0)

    def to_early(self, p_final: ArrayLike) -> np.ndarray:
        """Main-scale PDs (or rates) on the early label's scale, at most 1."""
        return np.minimum(np.asarray(p_final, dtype=float) / self.ratio, 1.0)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "early_rate": self.early_rate, "final_rate": self.final_rate,
                "ratio": self.ratio}


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
