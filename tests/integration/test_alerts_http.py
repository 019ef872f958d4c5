"""An alert reaches a real HTTP receiver on loopback through Apprise; inside the cool-down the same
condition sends nothing; a receiver that is down or too slow costs a stored, undelivered alert and
no exception."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.core.settings import Settings
from pipelines.monitoring.alerts import send_alert
from pipelines.warehouse.engine import Warehouse

DAY = date(2024, 9, 30)


class Receiver:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.requests: list[dict] = []
        self.delay_s = delay_s
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                # recorded on arrival: a caller that timed out still counts as having tried
                outer.requests.append({"path": self.path, "body": json.loads(body)})
                time.sleep(outer.delay_s)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_alert_reaches_receiver_once_per_cooldown(home, sqlite_wh: Warehouse,
                                                  receiver: Receiver) -> None:
    s = Settings(alerts={"urls": [f"json://127.0.0.1:{receiver.port}/hooks/risk"],
                         "cooldown_days": 7, "timeout_s": 5.0})
    message = ("Score PSI 0.31 (shift band > 0.25) over 2024-09-17..2024-09-30, up from 0.04; "
               "shift since 2024-09-30. Report: /reports/drift/2024-09-30.html")
    out = send_alert(s, sqlite_wh, "score_psi", DAY, message, "warning")
    assert out.sent and out.delivered == 1
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert req["path"] == "/hooks/risk"
    assert req["body"]["message"] == message
    assert "score_psi" in req["body"]["title"] and req["body"]["type"] == "warning"

    # Same condition two days later: inside the cool-down, stored, not sent.
    later = send_alert(s, sqlite_wh, "score_psi", DAY + timedelta(days=2), message, "warning")
    assert later.suppressed and later.delivered == 0
    # Rerunning the first day sends nothing either.
    rerun = send_alert(s, sqlite_wh, "score_psi", DAY, message, "warning")
    assert rerun.already_stored
    time.sleep(0.2)
    assert len(receiver.requests) == 1
    rows = sqlite_wh.read("alerts", order_by="business_date")
    assert rows[["delivered", "suppressed"]].values.tolist() == [[1, 0], [0, 1]]


def test_down_receiver_is_a_stored_failure(home, sqlite_wh: Warehouse) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = Settings(alerts={"urls": [f"json://127.0.0.1:{port}/hook"], "timeout_s": 2.0})
    out = send_alert(s, sqlite_wh, "roll_rate:1-30", DAY, "1-30 roll 52% vs 40%")
    assert out.sent and out.delivered == 0
    assert sqlite_wh.count("alerts") == 1


def test_slow_receiver_times_out_without_holding_the_caller(home, sqlite_wh: Warehouse) -> None:
    with Receiver(delay_s=6.0) as slow, Receiver() as fast:
        s = Settings(alerts={"urls": [f"json://127.0.0.1:{slow.port}/slow",
                                      f"json://127.0.0.1:{fast.port}/fast"],
                             "timeout_s": 1.0})
        t0 = time.perf_counter()
        out = send_alert(s, sqlite_wh, "feature_drift", DAY, "drifted share 0.45")
        elapsed = time.perf_counter() - t0
        assert out.delivered == 1  # the fast one only
        assert elapsed < 4.0
        assert len(fast.requests) == 1
    stored = sqlite_wh.read("alerts")
    assert stored["delivered"].tolist() == [1]
