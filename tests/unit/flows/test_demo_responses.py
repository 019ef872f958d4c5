"""The demo's closing lines name each drift response: a reference reset with its cut-off check,
or a challenger with its promotion verdict."""

from __future__ import annotations

from flows.cli.demo import response_line


def test_each_response_reads_as_one_line() -> None:
    reset = response_line({"day": "2025-09-23", "response": "reference_reset",
                           "window": "2025-09-10..2025-09-23",
                           "cutoff_check": {"approval_rate": 0.52, "approve_at": 570.0,
                                            "target_approval_rate": 0.70,
                                            "approve_at_for_target": 561.4}})
    assert reset == ("reference reset on 2025-09-23 to 2025-09-10..2025-09-23; approval rate "
                     "52.0% at approve >= 570 vs target 70.0% (approve >= 561 would meet it)")
    recal = response_line({"day": "2025-10-09", "response": "recalibration",
                           "reasons": ["roll rate alert from current"],
                           "recalibration": {"version": "2"},
                           "promotion": {"verdict": "rejected"}})
    assert recal == ("recalibration on 2025-10-09 (roll rate alert from current): challenger "
                     "v2 -> rejected")
    legacy = response_line({"day": "2025-09-09", "reasons": ["x"],
                            "training": {"version": "3"}, "promotion": {"verdict": "promoted"}})
    assert legacy.startswith("retraining on 2025-09-09 (x): challenger v3 -> promoted")
