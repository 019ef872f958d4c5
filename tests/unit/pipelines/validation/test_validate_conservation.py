"""Conservation, checked on hypothesis-generated batches with random defects: every input row is
passed on or quarantined with a reason, or the whole batch is rejected. Nothing is dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from pipelines.core.settings import Settings
from pipelines.validation.gate import BatchRejected, run_gate
from tests.unit.pipelines.validation.test_validate import DAY, clean_apps

# Each defect makes exactly the rows it touches fail at least one row-level rule.
DEFECTS = {
    "null_key": ("application_id", None),
    "negative_amount": ("loan_amount", -100.0),
    "young": ("applicant_age", 15.0),
    "old": ("applicant_age", 120.0),
    "ltv": ("loan_amount", 1e9),
    "category": ("vehicle_segment", "hovercraft"),
    "future": ("application_ts", pd.Timestamp("2030-01-01")),
    "inf_rate": ("interest_rate", np.inf),
}

batches = st.integers(min_value=1, max_value=60).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(sorted(DEFECTS))), max_size=12),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3),
))


@pytest.fixture(scope="module")
def gate_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    return Settings(home=home, validation={"max_duplicate_key_share": 0.2})


@hyp_settings(max_examples=20, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=batches)
def test_every_row_is_passed_quarantined_or_its_batch_rejected(
        gate_settings: Settings, batch: tuple[int, list, list]) -> None:
    n, defects, copies = batch
    df = clean_apps(n)
    for src, dst in copies:  # repeated keys first, so a defect below is never overwritten
        df.loc[dst, "application_id"] = df.loc[src, "application_id"]
    defective: set[int] = set()
    for row, name in defects:
        column, value = DEFECTS[name]
        df.loc[row, column] = value
        defective.add(row + 1)
    try:
        r = run_gate(df, "applications", "hyp", gate_settings, business_date=DAY,
                     data_docs=False)
    except BatchRejected as exc:
        assert exc.result.passed.empty and exc.result.batch_failures
        return
    q_rows = set(r.quarantined["row_number"])
    assert r.rows_in == n == r.rows_passed + len(q_rows)
    assert defective <= q_rows  # every injected defect was caught
    passed_rows = {int(i) + 1 for i in r.passed.index}
    assert passed_rows.isdisjoint(q_rows) and passed_rows | q_rows == set(range(1, n + 1))
    assert r.quarantined["rule"].notna().all() and r.quarantined["payload"].notna().all()
    kept = r.passed["application_id"]
    assert kept.notna().all() and kept.is_unique
