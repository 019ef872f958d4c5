"""The demo runs on an empty home: `creditflow demo` first removes what the last demo made (and
only that), and a home holding data the demo did not make is refused before anything is
written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.settings import Settings
from pipelines.simulation.demo import DEMO_MARK, DemoHomeError, DemoPlan, claim_home, reset_home
from pipelines.warehouse.engine import Warehouse

PLAN = DemoPlan(days=7, per_day=10)


def _one_application(wh: Warehouse) -> None:
    wh.init()
    wh.upsert("applications", pd.DataFrame([{
        "application_id": "A1", "application_ts": pd.Timestamp("2025-01-02 10:00"),
        "business_date": pd.Timestamp("2025-01-02"), "batch_id": "mine"}]))


def test_a_new_home_is_marked_and_kept_as_it_is(home: Path) -> None:
    s = Settings()
    assert not reset_home(s)
    claim_home(s, PLAN)
    assert (home / DEMO_MARK).is_file()
    assert not (home / "warehouse.db").exists()


def test_a_rerun_removes_the_last_demo_but_keeps_prefect(home: Path) -> None:
    s = Settings()
    claim_home(s, PLAN)
    _one_application(Warehouse(s.warehouse))
    (home / "mlflow.db").write_bytes(b"store")
    (s.reports_dir / "drift" / "x.html").parent.mkdir(parents=True)
    (s.reports_dir / "drift" / "x.html").write_text("report")
    (s.prefect_home / "prefect.db").write_bytes(b"db")
    assert reset_home(s)
    claim_home(s, PLAN)
    assert not (home / "warehouse.db").exists() and not (home / "mlflow.db").exists()
    assert not (s.reports_dir / "drift").exists()
    assert (s.prefect_home / "prefect.db").read_bytes() == b"db"


@pytest.mark.parametrize("what", ["warehouse", "mlflow"])
def test_data_the_demo_did_not_make_is_refused_untouched(home: Path, what: str) -> None:
    s = Settings()
    s.ensure_dirs()
    if what == "warehouse":
        _one_application(Warehouse(s.warehouse))
    else:
        (home / "mlflow.db").write_bytes(b"store")
    assert not reset_home(s)  # not the demo's: nothing removed
    with pytest.raises(DemoHomeError, match="CREDITFLOW_HOME"):
        claim_home(s, PLAN)
    assert not (home / DEMO_MARK).exists()
    assert (home / ("warehouse.db" if what == "warehouse" else "mlflow.db")).exists()


def test_an_empty_warehouse_of_your_own_is_used(home: Path) -> None:
    s = Settings()
    s.ensure_dirs()
    Warehouse(s.warehouse).init()  # e.g. `creditflow init` ran first
    claim_home(s, PLAN)
    assert (home / DEMO_MARK).is_file()
