"""The decision policy combining the PD decision with the EPD model (``models.combine``)."""

from __future__ import annotations

import numpy as np

from models.combine import combine, lead_reason
from pipelines.core.stage_settings import EpdRule

RULES = [EpdRule(decision="approve", epd_at_least=0.05, then="review", reason="EPD_HIGH",
                 text="early payment default risk"),
         EpdRule(decision="review", epd_at_least=0.20, then="decline", reason="EPD_VERY_HIGH",
                 text="very high early payment default risk"),
         EpdRule(decision="approve", epd_at_least=0.06, then="decline", reason="NEVER",
                 text="shadowed by the first rule, which matches every row it matches")]


def test_an_approve_with_a_high_epd_goes_to_review_and_the_first_rule_wins() -> None:
    decision = np.array(["approve", "approve", "approve", "review", "review", "decline",
                         "approve", "approve"], dtype=object)
    epd = np.array([0.049, 0.05, 0.30, 0.19, 0.25, 0.90, np.nan, 0.02])
    final, fired = combine(decision, epd, RULES)
    assert final.tolist() == ["approve", "review", "review", "review", "decline", "decline",
                              "approve", "approve"]
    assert fired.tolist() == [-1, 0, 0, -1, 1, -1, -1, -1]


def test_exempt_rows_keep_their_decision() -> None:
    final, fired = combine(np.array(["approve", "approve"], dtype=object),
                           np.array([0.5, 0.5]), RULES, exempt=np.array([True, False]))
    assert final.tolist() == ["approve", "review"] and fired.tolist() == [-1, 0]


def test_the_rule_reason_leads_and_the_model_reasons_follow() -> None:
    reasons = np.array([[None, None, None], ["R05", "R01", "R03"], ["R02", None, None]],
                       dtype=object)
    fired = np.array([0, 1, -1])
    out = lead_reason(reasons, fired, RULES)
    assert out.tolist() == [["EPD_HIGH", None, None], ["EPD_VERY_HIGH", "R05", "R01"],
                            ["R02", None, None]]
    texts = lead_reason(reasons, fired, RULES, texts=True)
    assert texts[0, 0] == "early payment default risk"
