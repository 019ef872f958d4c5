"""The demo needs its first PD model as champion: a refused one stops the demo at once, naming
the rules it failed, instead of a bare "no champion" when the first day is scored."""

from __future__ import annotations

import pytest

from pipelines.core.errors import CreditflowError
from pipelines.simulation.demo import require_first_champion

REFUSED = {"training": {"version": "1"}, "promotion": {
    "promoted": False, "verdict": "rejected",
    "reasons": ["mean_pd_vs_bad_rate failed: mean PD 0.0451 vs realised bad rate 0.0661 "
                "(off by 31.7%); may be off by at most 25%"], "counts": {"bads": 118}}}


def test_a_promoted_first_model_lets_the_demo_go_on() -> None:
    require_first_champion({"training": {"version": "1"},
                            "promotion": {"promoted": True, "verdict": "promoted", "reasons": []}})


def test_a_refused_first_model_stops_the_demo_with_its_failed_rules() -> None:
    with pytest.raises(CreditflowError) as caught:
        require_first_champion(REFUSED)
    message = str(caught.value)
    assert message.startswith("the demo's first model was not promoted (mean_pd_vs_bad_rate "
                              "failed: mean PD 0.0451")
    assert message.endswith("the rules judge it on the history's out-of-time window (118 bads): "
                            "a larger --history-per-day gives them more to judge on")


def test_a_first_model_without_a_verdict_stops_the_demo() -> None:
    with pytest.raises(CreditflowError, match=r"not promoted \(no promotion verdict\); the rules "
                                              r"judge it on the history's out-of-time window:"):
        require_first_champion({"training": {"version": "1"}})
