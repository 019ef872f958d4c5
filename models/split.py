"""A split of applications into two parts by a keyed hash of their id: the same id lands in the
same part on every run (a rerun, a promotion judged days later), and the parts are disjoint.

The recalibration challenger fits its calibrator on one part of the newest early-matured months
and is judged on the other, so it learns from the most recent vintages and is still never judged
on the rows it was fitted on. The draw is the policy holdout's (``models.holdout.holdout_draw``)
under its own key, so the two are independent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from models.holdout import holdout_draw

FIRST, SECOND = "calibration", "judged"


@dataclass(frozen=True)
class IdSplit:
    key: int  # hash key of the draw
    share: float  # share of the ids in the first part

    def __post_init__(self) -> None:
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"a split's share must be in (0, 1), got {self.share}")

    def first(self, application_ids: ArrayLike) -> np.ndarray:
        """True for the ids in the first part (draw below ``share``)."""
        return holdout_draw(application_ids, self.key) < self.share

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "share": self.share, "by": "hash of application_id",
                "parts": {FIRST: f"draw < {self.share}", SECOND: f"draw >= {self.share}"}}

    def tags(self) -> dict[str, str]:
        return {"split.key": str(self.key), "split.share": repr(self.share)}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> IdSplit | None:
        """The split a run recorded in its tags (``tags()``), or None if it recorded none."""
        try:
            return cls(int(tags["split.key"]), float(tags["split.share"]))
        except (KeyError, ValueError):
            return None

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> IdSplit | None:
        if not value:
            return None
        return cls(int(value["key"]), float(value["share"]))
