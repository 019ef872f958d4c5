"""The income_shock story on the trained home: outcomes turn worse for the same population, the
policy answers with a recalibration, and the challenger, its calibrator fitted on the newest
early-matured (post-shock) vintages, raises the PDs toward the realised early bad rate on
applications it was not fitted on, and is promoted."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from models.promotion_rules import PROMOTED
from models.split import IdSplit
from pipelines.champion import current_champion
from pipelines.core.settings import Settings
from pipelines.monitoring.day import monitor_day
from pipelines.promotion.apply import apply_decision
from pipelines.promotion.decide import decide
from pipelines.training.recalibrate import recalibration_challenger, recalibration_window
from pipelines.training.trainset import data_as_of
from pipelines.warehouse.engine import Warehouse
from tests.drift_books import champion_scored, drift_outcomes

pytestmark = pytest.mark.slow

# The trained home's data date is 2025-06-30: its newest early-matured month is 2024-11. Its
# book is small (about 600 loans and 20 early bads a month), so the recalibration window is
# six months (promotion.oot_months), all after this onset: each half of the split then holds
# about 60 early bads. Its champion was fitted before the shock (on the book without it).
ONSET = date(2024, 6, 1)


def test_income_shock_is_answered_by_a_recalibration_that_raises_the_pds(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITFLOW_PROMOTION__OOT_MONTHS", "6")
    # a vintage here is about 600 loans (a lender's are thousands): the significance asked of
    # one vintage's early bad rate is set for that size
    monkeypatch.setenv("CREDITFLOW_MONITORING__BAD_RATE_ALPHA", "0.01")
    s = Settings()
    wh = Warehouse.from_settings(s)
    drift_outcomes(s, wh, "income_shock", ONSET)
    day = data_as_of(wh)
    champion = current_champion(s)
    champion_scored(s, wh, champion, ONSET, recalibration_window(s, day)[1])
    seen = monitor_day(s, wh, day, champion.reference, champion.description, plots=False)
    assert (seen.decision.kind, seen.decision.response) == ("calibration_drift",
                                                            "recalibration"), seen.decision
    assert seen.decision.fire

    recal = recalibration_challenger(s, wh, "test: income shock")
    window = recalibration_window(s, day)
    assert window[0] >= ONSET  # the calibrator learnt from post-shock vintages only
    assert min(recal["calibration_bads"], recal["judged_bads"]) > 40
    decision = decide(s, wh, "test: income shock", recal["version"])
    assert decision.window["part"] == "judged"
    assert IdSplit.from_dict(decision.window["split"]) == IdSplit.from_dict(recal["split"])
    m = {k: {r: decision.metrics[k][r]["value"] for r in ("champion", "challenger")}
         for k in ("mean_pd", "bad_rate", "ece")}
    realised = m["bad_rate"]["champion"]
    assert m["bad_rate"]["challenger"] == realised  # the same judged rows
    # the shock: outcomes worse than the champion's PDs; the challenger's PDs rise toward them
    assert m["mean_pd"]["champion"] < realised
    assert m["mean_pd"]["champion"] < m["mean_pd"]["challenger"]
    assert abs(m["mean_pd"]["challenger"] - realised) < abs(m["mean_pd"]["champion"] - realised)
    assert m["ece"]["challenger"] < m["ece"]["champion"]
    assert decision.verdict == PROMOTED, decision.reasons
    # at the same cut-offs fewer applicants are approved: said, not refused
    assert any("approval rate" in w for w in decision.warnings)
    apply_decision(s, wh, decision)
    assert current_champion(s, reference=False).version == recal["version"]
