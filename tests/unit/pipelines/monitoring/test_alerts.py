"""send_alert bookkeeping: one row per condition and day, cool-down, failed delivery retried,
secrets masked. Delivery to a live receiver is in tests/integration/test_alerts_http.py."""

from __future__ import annotations

import logging
import socket
from datetime import date, timedelta

import pytest

from pipelines.core.settings import Settings
from pipelines.monitoring.alerts import send_alert
from pipelines.warehouse.engine import Warehouse

DAY = date(2024, 8, 1)


def _rows(wh: Warehouse):
    return wh.read("alerts", order_by="business_date, id")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: connection refused


def test_without_receivers_one_alert_per_cooldown_and_rerun_is_idempotent(
        settings: Settings, any_wh: Warehouse) -> None:
    assert settings.alerts.urls == [] and settings.alerts.cooldown_days == 7
    first = send_alert(settings, any_wh, "score_psi", DAY, "score PSI 0.31", "warning")
    assert (first.suppressed, first.already_stored, first.delivered, first.sent) == (
        False, False, 0, False)
    again = send_alert(settings, any_wh, "score_psi", DAY, "score PSI 0.31", "warning")
    assert again.already_stored and again.alert_id == first.alert_id
    inside = send_alert(settings, any_wh, "score_psi", DAY + timedelta(days=6), "still", "warning")
    assert inside.suppressed
    other = send_alert(settings, any_wh, "roll_rate:1-30", DAY + timedelta(days=6), "x")
    assert not other.suppressed  # the cool-down is per condition
    after = send_alert(settings, any_wh, "score_psi", DAY + timedelta(days=7), "again", "warning")
    assert not after.suppressed
    rows = _rows(any_wh)
    assert len(rows) == 4
    assert rows["suppressed"].tolist() == [0, 1, 0, 0]


def test_failed_delivery_is_stored_and_does_not_start_a_cooldown(
        home, sqlite_wh: Warehouse) -> None:
    url = f"json://127.0.0.1:{_closed_port()}/hook?token=SECRET123"
    s = Settings(alerts={"urls": [url], "timeout_s": 2.0})
    first = send_alert(s, sqlite_wh, "early_delinquency:all", DAY, "O/E 1.6", "critical")
    assert first.sent and first.delivered == 0 and not first.suppressed
    nxt = send_alert(s, sqlite_wh, "early_delinquency:all", DAY + timedelta(days=1), "O/E 1.7")
    assert nxt.sent and not nxt.suppressed  # nobody was told yet: try again
    assert _rows(sqlite_wh)["delivered"].tolist() == [0, 0]


def test_secrets_never_reach_logs_or_the_table(home, sqlite_wh: Warehouse,
                                               caplog: pytest.LogCaptureFixture) -> None:
    url = f"json://127.0.0.1:{_closed_port()}/hook?token=SECRET123"
    s = Settings(alerts={"urls": [url], "timeout_s": 2.0})
    caplog.set_level(logging.DEBUG)
    send_alert(s, sqlite_wh, "flow_failed:daily-scoring", DAY,
               "failed: could not connect to postgresql://risk:hunter2@db/cf")
    assert "SECRET123" not in caplog.text and "hunter2" not in caplog.text
    stored = _rows(sqlite_wh)["message"].iloc[0]
    assert "hunter2" not in stored and "risk:***@db" in stored


def test_bad_arguments_are_refused(settings: Settings, sqlite_wh: Warehouse) -> None:
    with pytest.raises(ValueError, match="severity"):
        send_alert(settings, sqlite_wh, "x", DAY, "m", severity="urgent")
    with pytest.raises(ValueError, match="condition_key"):
        send_alert(settings, sqlite_wh, "", DAY, "m")
    assert sqlite_wh.count("alerts") == 0
    # the flow-failure hook raises "error"
    assert send_alert(settings, sqlite_wh, "flow_failed:daily-scoring", DAY, "m",
                      severity="error").severity == "error"
