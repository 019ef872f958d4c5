"""Masks over one batch that several of the gate's checks ask for, found once and shared: each
column's missing values, and the rows repeating the batch's key.

The row-level rules (``pipelines.validation.quarantine``: not_null, in_set, unique_key, the text
widths), the batch-level expectations (``pipelines.validation.batch_checks``: null shares,
uniqueness, types) and the GX results (``pipelines.validation.gx_suite``: missing counts) all ask
which values of a column are missing. On a text (object) column ``isna`` is a pass over every row
(about 30 ms per million rows here); asked by each check, the gate made it 51 times on the
bench's 1M applications, 28% of the gate's time in a profile of ``bench/bench_validate.py``.
Finding the repeated keys hashes every key (about 150 ms per million): the quarantine's
unique_key rule and GX's uniqueness expectation share one pass.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd


class BatchMasks(dict[str, np.ndarray]):
    """``masks[column]`` is ``frame[column].isna()`` as a boolean array, found on first use.
    Every mask is read-only because it is shared: a check that needs to change one copies it."""

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.frame = frame
        self._later: dict[tuple[str, ...], np.ndarray] = {}

    def __missing__(self, column: str) -> np.ndarray:
        self[column] = _read_only(self.frame[column].isna().to_numpy(dtype=bool))
        return self[column]

    def any_missing(self, columns: list[str]) -> np.ndarray:
        """Rows missing a value in at least one of ``columns`` (none for no columns)."""
        return reduce(np.logical_or, (self[c] for c in columns),
                      np.zeros(len(self.frame), dtype=bool))

    def all_missing(self, columns: list[str]) -> np.ndarray:
        """Rows missing every one of ``columns`` (every row for no columns)."""
        return reduce(np.logical_and, (self[c] for c in columns),
                      np.ones(len(self.frame), dtype=bool))

    def later_copies(self, columns: list[str]) -> np.ndarray:
        """Rows whose complete key (no part missing) already occurred earlier in the frame."""
        key = tuple(columns)
        if key not in self._later:
            repeat = self.frame[columns].duplicated(keep="first").to_numpy()
            self._later[key] = _read_only(repeat & ~self.any_missing(columns))
        return self._later[key]

    def every_copy(self, column: str) -> np.ndarray:
        """Rows whose value of ``column`` is present and occurs more than once, first copies
        included: the values of the later copies, found again (none in the usual batch)."""
        later = self.later_copies([column])
        if not later.any():
            return later
        values = self.frame[column]
        return _read_only(values.isin(values[later].unique()).to_numpy() & ~self[column])


def _read_only(mask: np.ndarray) -> np.ndarray:
    mask.flags.writeable = False
    return mask
