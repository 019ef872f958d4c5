"""The gate's shared masks (one isna per column and one pass for repeated keys, per batch), its
cheap text-width pass and its Data Docs pseudonymising only the rows a page shows: the same
answers as pandas asked directly, a shared mask never changed by a check, no raw id on a page."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.core.calendar import business_day_end
from pipelines.core.privacy import DEFAULT_SALT, SaltError, pseudonymise
from pipelines.core.settings import Settings
from pipelines.validation.batch_checks import _keys_text, rows_as_they_are
from pipelines.validation.masks import BatchMasks
from pipelines.validation.quarantine import load_suite, row_issues, widest
from tests.unit.pipelines.validation.test_validate import DAY, clean_apps, gate, only


def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "text": ["a", None, "ccc", np.nan, "bb"],
        "number": [1.0, np.nan, 3.0, 4.0, np.nan],
        "when": pd.to_datetime(["2024-01-01", None, "2024-01-03", "2024-01-04", None]),
        "nullable": pd.array(["x", pd.NA, "yy", "z", pd.NA], dtype="string"),
        "full": [1, 2, 3, 4, 5],
    })


def test_each_mask_is_isna_computed_once_and_read_only() -> None:
    frame = mixed_frame()
    masks = BatchMasks(frame)
    for column in frame.columns:
        assert masks[column].tolist() == frame[column].isna().tolist()
        assert masks[column] is masks[column]  # kept, not found again
        with pytest.raises(ValueError):
            masks[column][0] = True  # shared by every check of the batch


def test_rows_missing_any_or_all_of_a_key() -> None:
    masks = BatchMasks(mixed_frame())
    assert masks.any_missing(["text", "number"]).tolist() == [False, True, False, True, True]
    assert masks.all_missing(["text", "number"]).tolist() == [False, True, False, False, False]
    assert masks.any_missing([]).tolist() == [False] * 5
    assert masks.all_missing([]).tolist() == [True] * 5


@pytest.mark.parametrize("seed", range(8))
def test_repeated_keys_as_pandas_finds_them(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    frame = pd.DataFrame({"id": rng.integers(0, 40, n).astype(str).astype(object),
                          "month": rng.integers(0, 3, n).astype(float)})
    frame.loc[rng.random(n) < 0.2, "id"] = None
    frame.loc[rng.random(n) < 0.2, "month"] = np.nan
    masks = BatchMasks(frame)
    for key in (["id"], ["id", "month"]):
        complete = frame[key].notna().all(axis=1)
        expected = frame[key].duplicated(keep="first") & complete
        assert masks.later_copies(key).tolist() == expected.tolist()
        assert masks.later_copies(key) is masks.later_copies(key)
    present = frame["id"].notna().to_numpy()
    every = np.zeros(n, dtype=bool)
    every[present] = frame["id"][present].duplicated(keep=False).to_numpy()
    assert masks.every_copy("id").tolist() == every.tolist()


def test_no_repeated_key() -> None:
    masks = BatchMasks(pd.DataFrame({"id": ["a", None, "b", None]}))
    assert not masks.later_copies(["id"]).any() and not masks.every_copy("id").any()


@pytest.mark.parametrize("column", ["text", "nullable"])
def test_widest_is_the_longest_present_value(column: str) -> None:
    frame = mixed_frame()
    masks = BatchMasks(frame)
    assert widest(frame[column], masks[column]) == frame[column].str.len().max()
    empty = frame[column].iloc[[1]]
    assert widest(empty, BatchMasks(empty.to_frame())[column]) == 0


def test_widest_leaves_a_value_without_a_length_to_str_len() -> None:
    s = pd.Series(["a", 12345, None], dtype=object)
    assert widest(s, s.isna().to_numpy()) == np.inf


def test_overlong_text_beside_nulls_and_a_number_is_quarantined(settings: Settings) -> None:
    df = clean_apps(40)  # one null of 40: under the null share
    df["dealer_id"] = df["dealer_id"].astype(object)
    df.loc[2, "dealer_id"] = None
    df.loc[4, "dealer_id"] = 12345  # no length: not a width failure
    df.loc[6, "dealer_id"] = "D" + "x" * 64
    assert only(gate(df, settings)) == [(7, "max_length:64", "dealer_id", "D" + "x" * 64)]


def test_a_check_leaves_the_shared_mask_as_it_found_it(settings: Settings) -> None:
    df = clean_apps(10)
    df.loc[[3, 5], "application_ts"] = pd.NaT
    masks = BatchMasks(df)
    suite = load_suite("applications", settings)
    issues = row_issues(df, suite, business_day_end(DAY, 0), {4}, masks)  # row 4 unreadable
    assert issues.loc[issues["rule"] == "not_null", "row_number"].tolist() == [6]
    assert np.flatnonzero(masks["application_ts"]).tolist() == [3, 5]


# -- Data Docs: only the shown rows' ids are pseudonymised --------------------------------------

def test_data_docs_show_pseudonyms_of_the_rows_they_list_and_no_raw_id(home: Path) -> None:
    settings = Settings(validation={"max_duplicate_key_share": 0.5, "max_null_share": 0.5},
                        security={"id_salt": "masks-test-salt"})
    df = clean_apps(40)
    df.loc[[5, 9], "application_id"] = df.loc[3, "application_id"]  # every copy listed by GX
    df.loc[12, "application_id"] = None
    df.loc[20, "applicant_age"] = 7.0
    r = gate(df, settings, batch_id="b-ids", data_docs=True)
    assert [q[1:3] for q in only(r)] == [("unique_key", "application_id")] * 2 + [
        ("not_null", "application_id"), ("between", "applicant_age")]
    html = Path(r.report_path or "").read_text()
    assert not {i for i in df["application_id"].dropna() if i in html}
    assert pseudonymise([df.loc[3, "application_id"]], "masks-test-salt")[0] in html
    assert pseudonymise([df.loc[20, "application_id"]], "masks-test-salt")[0] not in html
    shipped = settings.model_copy(update={"security": settings.security.model_copy(
        update={"id_salt": Settings(security={"id_salt": DEFAULT_SALT}).security.id_salt})})
    with pytest.raises(SaltError):  # refused before any page, as before
        gate(df, shipped, data_docs=True)


def test_compound_key_examples_read_as_the_whole_column_writes_them() -> None:
    keys = pd.DataFrame({"loan_id": ["L1", "L2", "L1"],
                         "as_of_month": pd.to_datetime(["2024-01-31 00:00", "2024-01-31 10:00",
                                                        "2024-01-31 00:00"])})
    shown = partial(rows_as_they_are, keys)
    assert _keys_text(shown, keys, np.array([0, 2])) == ["L1|2024-01-31 00:00:00"] * 2
    assert _keys_text(shown, keys.iloc[[0, 2]], np.array([0])) == ["L1|2024-01-31"]
    assert _keys_text(shown, keys, np.array([], dtype=np.int64)) == []
