"""Each column's missing values, found once per batch and shared by the gate's checks.

The row-level rules (``pipelines.validation.quarantine``: not_null, in_set, the key, the text
widths) and the batch-level expectations (``pipelines.validation.batch_checks``: null shares,
uniqueness, types) and the GX results (``pipelines.validation.gx_suite``: missing counts) all ask
which values of a column are missing. On a text (object) column ``isna`` is a pass over every row
(about 30 ms per million rows here); asked by each check, the gate made it 51 times on the
bench's 1M applications, 28% of the gate's time in a profile of ``bench/bench_validate.py``.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd


class NullMasks(dict[str, np.ndarray]):
    """``masks[column]`` is ``frame[column].isna()`` as a read-only boolean array, computed on
    first use. Read-only because it is shared: a check that needs to change it copies it."""

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.frame = frame

    def __missing__(self, column: str) -> np.ndarray:
        mask = self.frame[column].isna().to_numpy(dtype=bool)
        mask.flags.writeable = False
        self[column] = mask
        return mask

    def any_missing(self, columns: list[str]) -> np.ndarray:
        """Rows missing a value in at least one of ``columns`` (none for no columns)."""
        return reduce(np.logical_or, (self[c] for c in columns),
                      np.zeros(len(self.frame), dtype=bool))

    def all_missing(self, columns: list[str]) -> np.ndarray:
        """Rows missing every one of ``columns`` (every row for no columns)."""
        return reduce(np.logical_and, (self[c] for c in columns),
                      np.ones(len(self.frame), dtype=bool))
