"""Shared pieces of the simulator (``simulate``, ``applicants``, ``tape``): the seeded random
streams, id and label helpers, the inverse-CDF category draw, and the small types passed between
the stages. It imports no other simulator module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.warehouse.schema import CATEGORIES

_STREAMS = ("dealers", "calendar", "applicant", "vehicle", "terms", "outcome")

Draws = dict[str, np.ndarray]


@dataclass(frozen=True)
class _Dealers:
    ids: np.ndarray  # object strings "D0042"
    region: np.ndarray  # codes into CATEGORIES["dealer_region"]
    channel: np.ndarray  # codes into CATEGORIES["dealer_channel"]
    weight: np.ndarray  # share of application volume
    effect: np.ndarray  # latent log-odds quality effect
    fraud: np.ndarray  # bool: in the ring that turns bad under "dealer_fraud"


@dataclass(frozen=True)
class _Events:
    default_month: np.ndarray  # float, NaN if the loan never reaches 90+
    end_mob: np.ndarray  # month on book of the last row (pay-off, charge-off); may pass tape_end
    charged_off: np.ndarray  # bool


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent child stream per stage, so a stage's draws never depend on how many numbers
    another stage (or a scenario) used."""
    children = np.random.default_rng(seed).spawn(len(_STREAMS))
    return dict(zip(_STREAMS, children, strict=True))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    digits = np.strings.zfill(numbers.astype(np.dtypes.StringDType()), width)
    return np.strings.add(prefix, digits).astype(object)


def _labels(category: str, codes: np.ndarray) -> np.ndarray:
    return np.array(CATEGORIES[category], dtype=object)[codes]


def _pick(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of category codes from uniforms (same uniforms, same codes)."""
    cum = np.cumsum(p)
    return np.searchsorted(cum / cum[-1], u, side="right")

