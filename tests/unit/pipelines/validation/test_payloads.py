"""The quarantine's payload: each quarantined row whole, as one JSON object, whatever its
columns' types (NumPy, nullable, categorical, text with bytes PostgreSQL refuses)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipelines.validation.quarantine import payloads


def test_every_dtype_is_written_as_the_row_holds_it() -> None:
    rows = pd.DataFrame({
        "income": [52_000.5, np.nan, np.inf, -np.inf],
        "term": np.array([36, 48, 60, 72], dtype="int64"),
        "small": np.array([1, 2, 3, 4], dtype="uint8"),
        "flag": [True, False, True, False],
        "count": pd.array([1, None, 3, 4], dtype="Int64"),
        "segment": pd.Categorical(["suv", None, "sedan", "suv"]),
        "note": ["caf\udcc3", "nul\x00byte", None, "ok"],
        "ts": pd.to_datetime(["2025-06-02 10:30:00", "2025-06-02 00:00:00", None,
                             "2025-06-03 00:00:01"]),
        7: [1.0, 2.5, 1e16, -0.0],
    })
    out = [json.loads(p) for p in payloads(rows)]
    assert out[0] == {"income": 52_000.5, "term": 36, "small": 1, "flag": True, "count": 1,
                      "segment": "suv", "note": "caf\\udcc3", "ts": "2025-06-02T10:30:00",
                      "7": 1.0}
    assert out[1] == {"income": None, "term": 48, "small": 2, "flag": False, "count": None,
                      "segment": None, "note": "nul\\x00byte", "ts": "2025-06-02", "7": 2.5}
    assert out[2]["income"] == "inf" and out[2]["ts"] is None and out[2]["note"] is None
    assert out[3]["income"] == "-inf" and out[3]["7"] == -0.0
    assert out[2]["7"] == 1e16
    # the exact text: numbers keep their full precision, nothing is escaped to ASCII
    assert payloads(pd.DataFrame({"x": [0.1 + 0.2], "name": ["Zoë"]})) == [
        '{"x": 0.30000000000000004, "name": "Zoë"}']


def test_an_empty_frame_gives_no_payload() -> None:
    assert payloads(pd.DataFrame({"a": pd.Series(dtype="float64")})) == []
