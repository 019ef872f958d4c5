"""The early-performance target (``features.early``): the same outcome machinery and maturity
rules as the main label with a shorter window and its own bad bucket, read from a real SQLite
warehouse; and its bridge to the main label (``models.bridge``)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.bridge import BridgeError, target_bridge
from pipelines.core.settings import Settings
from pipelines.training.early import early_labels, main_labels, measure_bridge
from pipelines.warehouse.engine import Warehouse
from tests.unit.features.test_labels_real_tape import OPEN, ORIG, loans, tape

T = pd.Timestamp


def _apps(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"application_id": [f"A{i}" for i in ids],
                         "application_ts": T(ORIG) - pd.Timedelta(days=2)})


def test_the_early_target_matures_at_its_own_window_and_no_earlier(
        settings: Settings, sqlite_wh: Warehouse) -> None:
    """Booked 10 Jan 2023: its 6-month window closes 10 Jul 2023, decided by the June tape. A
    61-90 month in May makes the early label bad (not the main 90+ one); before the June tape
    has arrived the clean loan has no early label, not a good one."""
    sqlite_wh.upsert("loans", loans(["SLIP", "CLEAN"]))
    sqlite_wh.upsert("repayments", pd.concat([
        tape("SLIP", [OPEN] * 4 + [("61-90", "open")] + [OPEN] * 9),
        tape("CLEAN", [OPEN] * 14)]))
    apps = _apps(["SLIP", "CLEAN"])

    before = early_labels(settings, sqlite_wh, apps, T("2023-07-09"))
    # bad in May is decided, but an outcome is known only once its window has closed (10 Jul)
    assert before["mature"].tolist() == [False, False] and before["bad"].isna().all()

    after = early_labels(settings, sqlite_wh, apps, T("2023-07-10"))
    assert after["bad"].tolist() == [1.0, 0.0]
    main = main_labels(settings, sqlite_wh, apps, T("2023-07-10"))
    assert main["mature"].tolist() == [False, False]  # the 12-month label: another half year
    assert main_labels(settings, sqlite_wh, apps, T("2024-01-10"))["bad"].tolist() == [0.0, 0.0]


def test_the_bridge_maps_early_rates_onto_the_main_scale_and_back() -> None:
    early = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, np.nan])
    final = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    b = target_bridge(early, final)
    assert (b.n, b.early_bads, b.final_bads) == (19, 4, 4)
    assert (b.final_if_early_bad, b.final_if_early_good) == (0.75, 1 / 15)
    assert b.ratio == 1.0  # 4 main bads, 4 early bads
    assert b.to_final(b.early_rate) == pytest.approx(b.final_rate)  # the whole book balances
    assert b.to_early(b.to_final([0.0, 0.3, 1.0])) == pytest.approx([0.0, 0.3, 1.0])
    # a PD below b (1/15, the early goods' late-default rate) keeps its own size: a safe
    # applicant is not given the average early good's risk
    assert b.to_early([0.01, 0.02, 0.03]) == pytest.approx([0.01, 0.02, 0.03])
    with pytest.raises(BridgeError, match="early goods"):
        target_bridge(np.ones(5), np.ones(5))
    with pytest.raises(BridgeError, match="no likelier"):
        target_bridge([1, 0, 0], [0, 1, 0])


def test_the_bridge_is_measured_on_loans_whose_main_label_has_matured(
        settings: Settings, sqlite_wh: Warehouse) -> None:
    ids = [f"L{i}" for i in range(8)]
    sqlite_wh.upsert("applications", pd.DataFrame({
        "application_id": [f"A{i}" for i in ids], "application_ts": T(ORIG),
        "business_date": T(ORIG).date(), "batch_id": "b"}))
    sqlite_wh.upsert("loans", loans(ids))
    slips = [OPEN] * 3 + [("61-90", "open"), ("90+", "open"), ("charge-off", "charged_off")]
    cures = [OPEN] * 3 + [("61-90", "open")] + [OPEN] * 10
    sqlite_wh.upsert("repayments", pd.concat(
        [tape(ids[0], slips), tape(ids[1], slips), tape(ids[2], cures)]
        + [tape(i, [OPEN] * 14) for i in ids[3:]]))
    bridge, window = measure_bridge(settings, sqlite_wh, date(2024, 2, 15))
    assert window == (date(2022, 8, 1), date(2023, 1, 31))
    assert (bridge.n, bridge.early_bads, bridge.final_bads) == (8, 3, 2)
    assert bridge.final_if_early_bad == pytest.approx(2 / 3)
