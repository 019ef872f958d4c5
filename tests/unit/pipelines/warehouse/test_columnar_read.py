"""The scoring read path: ``Warehouse.read_columnar`` (COPY into Arrow on PostgreSQL, the
driver's tuples into columns on SQLite) returns what the typed read returns, awkward text
included; one date's applications come back in (application_ts, application_id) order through
the (business_date, application_id) index; ids stream in blocks; extras parse once per text."""

from __future__ import annotations

import json
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import inspect

from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import load_applications, read_extra
from pipelines.warehouse.scoring import application_ids

DAY = date(2025, 3, 4)
AWKWARD = ["plain", "a,b", 'say "hi"', "two\nlines", "", None, "ünïcode ✓", "NA", "NULL",
           "\\N"]


def applications(n: int) -> pd.DataFrame:
    """``n`` applications of DAY, ids inserted out of order, timestamps tied in pairs."""
    rng = np.random.default_rng(3)
    ids = [f"A{i:04d}" for i in rng.permutation(n)]
    ts = [datetime(2025, 3, 4, 9, i // 2 % 60, 0, 250_000) for i in range(n)]  # tied pairs
    income = rng.uniform(20_000, 90_000, n)
    income[::5] = np.nan
    return pd.DataFrame({
        "application_id": ids, "application_ts": ts, "business_date": pd.Timestamp(DAY),
        "annual_income": income, "term_months": rng.choice([36, 48, 60], n).astype(float),
        "dealer_id": [AWKWARD[i % len(AWKWARD)] for i in range(n)],
        "extra": [json.dumps({"state": "NV", "months": i % 3}) if i % 4 else None
                  for i in range(n)],
        "batch_id": "b1",
    })


def test_columnar_read_returns_what_the_typed_read_returns(any_wh: Warehouse) -> None:
    any_wh.upsert("applications", applications(40))
    cols = ["application_id", "application_ts", "business_date", "annual_income",
            "term_months", "dealer_id", "extra"]
    fast = any_wh.read_columnar("applications", cols, "business_date = :d", {"d": DAY},
                                order_by="application_id")
    typed = any_wh.read("applications", where="business_date = :d", params={"d": DAY},
                        columns=cols, order_by="application_id")
    assert len(fast) == 40
    for col in ("annual_income", "term_months"):  # NULL-able numbers: floats on both
        fast[col], typed[col] = fast[col].astype(float), typed[col].astype(float)
    for col in ("application_ts", "business_date"):
        fast[col], typed[col] = (x[col].astype("datetime64[ns]") for x in (fast, typed))
    pd.testing.assert_frame_equal(fast, typed)
    # NULL and the empty string stay apart; words a CSV reader might take for NULL stay text
    assert fast["dealer_id"].isna().sum() == 4 and (fast["dealer_id"] == "").sum() == 4
    assert {"NA", "NULL", "\\N", "two\nlines", 'say "hi"'} <= set(fast["dealer_id"])


def test_one_day_comes_in_time_then_id_order_through_its_index(any_wh: Warehouse) -> None:
    frame = applications(30)
    any_wh.upsert("applications", frame)
    day = load_applications(any_wh, DAY, DAY)
    expected = frame.sort_values(["application_ts", "application_id"])["application_id"]
    assert day["application_id"].tolist() == expected.tolist()
    assert day["application_ts"].duplicated().sum() == 15  # the ties did need the id
    ids = sorted(frame["application_id"])
    chunk = load_applications(any_wh, DAY, DAY, id_range=(ids[5], ids[12]))
    assert sorted(chunk["application_id"]) == ids[5:13]
    assert [list(b) for b in any_wh.stream_column(
        "SELECT application_id FROM applications WHERE business_date = :d ORDER BY "
        "application_id", {"d": DAY}, block_rows=7)] == [ids[i:i + 7] for i in range(0, 30, 7)]
    assert [i for block in application_ids(any_wh, DAY) for i in block] == ids
    indexes = {tuple(ix["column_names"]) for ix in inspect(any_wh.engine).get_indexes(
        "applications")}
    assert ("business_date", "application_id") in indexes and ("business_date",) not in indexes


def test_extras_parsed_once_per_text_equal_a_parse_per_row() -> None:
    texts = pd.Series([json.dumps({"state": s, "months": m}) if m is not None else None
                       for s, m in [("NV", 3), ("CA", 2.5), ("NV", 3), (None, None), ("CA", 1)]]
                      + ['{"only": "here"}', "{}"], index=range(10, 17))
    expected = pd.DataFrame([json.loads(x) for x in texts.fillna("{}")], index=texts.index)
    pd.testing.assert_frame_equal(read_extra(texts), expected)
    none = pd.Series([None, "{}"], index=[4, 9])
    assert read_extra(none).shape == (2, 0) and list(read_extra(none).index) == [4, 9]
