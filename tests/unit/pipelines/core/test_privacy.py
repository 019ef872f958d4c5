"""pipelines.core.privacy: pseudonyms are consistent per salt, keyed, null-preserving and fast enough
for a million ids; the gate's report view hides ids but keeps the rest of each issue."""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import pandas as pd
import pytest

from pipelines.core import privacy
from pipelines.core.privacy import (
    SaltError,
    is_id_column,
    pseudonymise,
    pseudonymise_batch,
    pseudonymise_frame,
    withhold_id,
)

IDS = [f"A{i:09d}" for i in range(1, 201)]


def test_same_id_same_pseudonym_other_salt_other_pseudonym() -> None:
    first, again = pseudonymise(IDS, "salt-1"), pseudonymise(list(reversed(IDS)), "salt-1")
    assert first == list(reversed(again))
    assert len(set(first)) == len(IDS)  # distinct ids stay distinct
    other = pseudonymise(IDS, "salt-2")
    assert not set(first) & set(other)
    assert all(len(p) == 16 and int(p, 16) >= 0 for p in first)
    assert not any(i in p or i[1:] in p for i, p in zip(IDS, first, strict=True))


def test_keyed_not_a_plain_hash_of_the_id() -> None:
    """Without the salt, hashing candidate ids must not reproduce the pseudonym."""
    mine = pseudonymise(["A000000001"], "secret")[0]
    for algo in ("md5", "sha1", "sha256", "blake2b", "blake2s"):
        assert hashlib.new(algo, b"A000000001").hexdigest()[:16] != mine
    assert hashlib.sha256(b"secretA000000001").hexdigest()[:16] != mine
    assert hashlib.sha256(b"A000000001secret").hexdigest()[:16] != mine


def test_series_keeps_index_and_name_and_nulls() -> None:
    s = pd.Series(["A1", None, "A1", np.nan, 7, "7"], index=[10, 11, 12, 13, 14, 15],
                  name="application_id")
    out = pseudonymise(s, "salt")
    assert isinstance(out, pd.Series)
    assert list(out.index) == list(s.index) and out.name == "application_id"
    assert out.isna().tolist() == [False, True, False, True, False, False]
    assert out[10] == out[12] and out[14] == out[15]  # 7 and "7" are the same id
    assert out[10] == pseudonymise(["A1"], "salt")[0]
    assert pseudonymise([], "salt") == []


def test_empty_and_shipped_salts_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SaltError, match="id_salt is empty"):
        pseudonymise(["A1"], "")
    with pytest.raises(SaltError, match="shipped default") as err:
        pseudonymise(["A1"], privacy.DEFAULT_SALT)
    assert "CREDITFLOW_SECURITY__ID_SALT" in str(err.value)
    # every flow checks it before it starts, not when a report first needs a pseudonym
    from flows.common import flow_settings

    monkeypatch.setenv("CREDITFLOW_SECURITY__ID_SALT", privacy.DEFAULT_SALT)
    with pytest.raises(SaltError, match="shipped default"):
        flow_settings()
    monkeypatch.delenv("CREDITFLOW_SECURITY__ID_SALT")
    with pytest.raises(SaltError):  # the shipped creditflow.toml leaves it at the default
        flow_settings()


def test_demo_makes_a_salt_of_its_own_unless_one_is_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.simulation.demo import SALT_ENV, use_demo_salt

    monkeypatch.delenv(SALT_ENV, raising=False)
    use_demo_salt()
    first = os.environ[SALT_ENV]
    assert len(first) == 32 and first != privacy.DEFAULT_SALT
    use_demo_salt()
    assert os.environ[SALT_ENV] == first  # the user's (or an earlier) salt is kept


def test_a_million_ids_hash_without_collision() -> None:
    ids = pd.Series(np.char.add("A", np.char.zfill(np.arange(1_000_000).astype(str), 9)))
    t0 = time.perf_counter()
    out = pseudonymise(ids, "salt")
    seconds = time.perf_counter() - t0
    assert out.nunique() == len(ids)
    assert seconds < 30, f"{seconds:.1f} s for 1M ids"  # ~1-2 s here; generous on a busy box


def test_frame_hashes_only_id_columns() -> None:
    frame = pd.DataFrame({"application_id": ["A1", "A2"], "loan_id": ["L1", None],
                          "dealer_id": ["D1", "D2"], "ltv": [0.9, 1.1]})
    out = pseudonymise_frame(frame, "salt")
    assert out["application_id"].tolist() == pseudonymise(["A1", "A2"], "salt")
    assert out["loan_id"].iloc[1] is None
    assert out[["dealer_id", "ltv"]].equals(frame[["dealer_id", "ltv"]])
    assert frame["application_id"].tolist() == ["A1", "A2"]  # the input is left alone
    plain = frame[["dealer_id", "ltv"]]
    assert pseudonymise_frame(plain, "salt") is plain


def test_batch_view_hides_ids_in_issues_and_keeps_the_rest() -> None:
    frame = pd.DataFrame({"loan_id": ["L1", "L2", "L1"],
                          "as_of_month": pd.to_datetime(["2024-01-31"] * 3),
                          "balance": [1.0, -5.0, 2.0]})
    issues = pd.DataFrame({
        "row_number": [3, 2, 2],
        "rule": ["unique_key", "between", "encoding:utf-8"],
        "column": ["loan_id,as_of_month", "balance", "loan_id"],
        "value": ["L1|2024-01-31 (first at row 1)", "-5", "L2"]})
    shown, shown_issues = pseudonymise_batch(frame, issues, "salt")
    l1, l2 = pseudonymise(["L1", "L2"], "salt")
    assert shown["loan_id"].tolist() == [l1, l2, l1]
    assert shown_issues["value"].tolist() == [f"{l1}|2024-01-31 (first at row 1)", "-5", l2]
    assert shown_issues[["row_number", "rule", "column"]].equals(
        issues[["row_number", "rule", "column"]])
    assert issues["value"].iloc[0].startswith("L1|")  # the warehouse's copy is untouched
    no_ids = pd.DataFrame({"x": [1]})
    assert pseudonymise_batch(no_ids, issues.iloc[:0], "salt")[0] is no_ids


def test_id_columns_and_withheld_examples() -> None:
    assert is_id_column("application_id") and is_id_column("loan_id,as_of_month")
    assert not is_id_column("dealer_id") and not is_id_column("bureau_score")
    assert withhold_id("application_id", "A1 (first at row 2)") == "(identifier withheld)"
    assert withhold_id("bureau_score", 9999) == 9999
    assert withhold_id("application_id", None) is None
