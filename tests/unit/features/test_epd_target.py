"""The early-payment-default target (``settings.epd``): the one outcome definition through
``target_config(settings, "epd")``, 61-90 or worse within 3 months on book by default; no EPD
label before the window has closed and its deciding tape month arrived."""

from __future__ import annotations

import pandas as pd

from pipelines.core.settings import Settings
from pipelines.training.early import target_labels
from pipelines.warehouse.engine import Warehouse
from tests.unit.features.test_early_target import _apps
from tests.unit.features.test_labels_real_tape import OPEN, loans, tape

T = pd.Timestamp


def test_the_epd_label_matures_at_three_months_on_book_and_no_earlier(
        settings: Settings, sqlite_wh: Warehouse) -> None:
    """Booked 10 Jan 2023: the 3-month EPD window closes 10 Apr 2023, decided by the March tape.
    61-90 in March is an early payment default; in May it is not (the 6-month early target
    sees it); before 10 Apr neither loan has an EPD label."""
    sqlite_wh.upsert("loans", loans(["FPD", "LATE", "CLEAN"]))
    sqlite_wh.upsert("repayments", pd.concat([
        tape("FPD", [OPEN] * 2 + [("61-90", "open")] + [OPEN] * 11),
        tape("LATE", [OPEN] * 4 + [("61-90", "open")] + [OPEN] * 9),
        tape("CLEAN", [OPEN] * 14)]))
    apps = _apps(["FPD", "LATE", "CLEAN"])
    before = target_labels(settings, sqlite_wh, apps, T("2023-04-09"), "epd")
    assert not before["mature"].any() and before["bad"].isna().all()
    after = target_labels(settings, sqlite_wh, apps, T("2023-04-10"), "epd")
    assert after["bad"].tolist() == [1.0, 0.0, 0.0]
    early = target_labels(settings, sqlite_wh, apps, T("2023-07-10"), "early")
    assert early["bad"].tolist() == [1.0, 1.0, 0.0]
