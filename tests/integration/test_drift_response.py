"""Responses to drift on the trained home (a simulated book with a champion): a recalibration
challenger learns a calibration drift from early-matured vintages and is judged on the early
window, and an accepted reference reset settles a population shift."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.registry import load_pd_model, version_info
from pipelines.champion import current_champion
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.settings import Settings
from pipelines.monitoring.day import monitor_day
from pipelines.monitoring.reference import accept_reference_reset, pending_reset
from pipelines.promotion.apply import apply_decision
from pipelines.promotion.decide import decide
from pipelines.scoring.run import score_day
from pipelines.training.recalibrate import recalibration_challenger, recalibration_window
from pipelines.training.train import train_model
from pipelines.training.trainset import data_as_of
from pipelines.warehouse.engine import Warehouse

pytestmark = pytest.mark.slow


def _worse_outcomes(wh: Warehouse, start: date, end: date, share: float, seed: int = 3) -> int:
    """A calibration drift: ``share`` of the loans booked in [start, end] slip to 61-90 in their
    third month on book (the population is unchanged, its outcomes are worse)."""
    loans = wh.read("loans", "origination_date BETWEEN :a AND :b", {"a": start, "b": end},
                    columns=["loan_id"])
    rng = np.random.default_rng(seed)
    hit = loans["loan_id"][rng.random(len(loans)) < share].tolist()
    tape = wh.read("repayments", "months_on_book = 3 AND as_of_month BETWEEN :a AND :b",
                   {"a": start, "b": end + timedelta(days=130)})
    tape = tape[tape["loan_id"].isin(hit) & (tape["dpd_bucket"] == "current")]
    wh.upsert("repayments", tape.assign(dpd_bucket="61-90"))
    return len(tape)


def test_a_recalibration_challenger_improves_calibration_on_the_post_shift_window(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # six early-matured months: each half of this small book's split holds about 1,700 loans
    monkeypatch.setenv("CREDITFLOW_PROMOTION__OOT_MONTHS", "6")
    s = Settings()
    wh = Warehouse.from_settings(s)
    window = recalibration_window(s, data_as_of(wh))
    assert _worse_outcomes(wh, *window, 0.06) > 100

    recal = recalibration_challenger(s, wh, "test: calibration drift")
    assert recal["judged_ece_after"] < recal["judged_ece_before"]  # out of sample
    tags = version_info(s.tracking_uri, s.training.registered_model_name, recal["version"])
    assert (tags["tags"]["target"], tags["tags"]["response"]) == ("early", "recalibration")

    decision = decide(s, wh, "test", recal["version"])
    # judged on the newest window whose early label has matured, on the part of its
    # applications the calibrator never saw, and the record says so
    assert decision.window["target"] == "early" and "61-90" in decision.window["label"]
    assert decision.window["start"] == window[0].isoformat()
    assert decision.window["part"] == "judged" and decision.window["split"] == recal["split"]
    assert decision.counts["labelled"] == recal["judged_rows"]
    auc = decision.metrics["auc"]  # the champion's booster: the same ranking on the same rows
    assert auc["challenger"]["value"] == pytest.approx(auc["champion"]["value"], abs=1e-12)
    ece = decision.metrics["ece"]
    assert ece["challenger"]["value"] < ece["champion"]["value"]
    mean_pd = decision.metrics["mean_pd"]
    assert mean_pd["challenger"]["value"] > mean_pd["champion"]["value"]  # PDs rose
    names = {r.name: r.passed for r in decision.rules}
    assert names["ece_improves"] and "auc_uplift" not in names  # same booster: same ranking
    applied = apply_decision(s, wh, decision)
    assert applied.audit is not None


def _shift_population(wh: Warehouse, days: list[date]) -> None:
    """A population shift: the window's applicants borrow 60% more on the same cars (LTV up)."""
    apps = wh.read("applications", "business_date BETWEEN :a AND :b",
                   {"a": min(days), "b": max(days)})
    wh.upsert("applications", apps.assign(loan_amount=apps["loan_amount"] * 1.6))


def test_an_accepted_reference_reset_settles_a_population_shift(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITFLOW_MONITORING__MIN_WINDOW_ROWS", "100")
    s = Settings()
    wh = Warehouse.from_settings(s)
    day = date(2025, 6, 29)
    days = [day - timedelta(days=k) for k in range(s.monitoring.window_days)]
    _shift_population(wh, days)
    for d in sorted(days):
        score_day(s, wh, d)
    champion = current_champion(s)
    first = monitor_day(s, wh, day, champion.reference, champion.description, plots=False)
    assert (first.decision.kind, first.decision.response) == ("population_shift",
                                                              "reference_reset")
    assert not first.decision.fire and "reference_reset" in first.alert_keys()
    psi = first.metrics.set_index("metric").loc["score_psi"]
    assert psi["band"] == "shift", psi
    assert pending_reset(wh, champion.version, day, 0) == day

    reset = accept_reference_reset(s, wh, champion, day, "test reviewer")
    check = reset["cutoff_check"]
    assert check["approval_rate"] < check["target_approval_rate"]  # riskier applicants
    assert reset["answers"] == first.decision.run_id
    assert pending_reset(wh, champion.version, day, 0) is None
    after = monitor_day(s, wh, day, champion.reference, champion.description, plots=False)
    assert after.reference.startswith("reset on 2025-06-29")
    settled = after.metrics.set_index("metric").loc["score_psi"]
    assert settled["band"] == "stable" and settled["value"] < 0.01
    assert not pd.isna(psi["value"]) and settled["value"] < psi["value"]


def test_an_early_target_challenger_trains_on_windows_past_the_main_label(
        trained_home: Path) -> None:
    """Concept drift's response: the windows end at the latest early-matured month (six months
    later than the main label allows), the label is the early one, the PD bridged to 12 months,
    and promotion judges it on the early window."""
    s = Settings()
    wh = Warehouse.from_settings(s)
    as_of = data_as_of(wh)
    result = train_model(s, wh, triggered_by="test: concept drift", target="early")
    assert result.windows["oot"].endswith(
        latest_matured_month_end(as_of, s.features.early.months).isoformat())
    info = version_info(s.tracking_uri, s.training.registered_model_name, result.version)
    assert info["tags"]["target"] == "early"
    model = load_pd_model(s.tracking_uri, s.training.registered_model_name,
                          version=result.version)
    assert model.calibrator.bridge is not None  # an early-bad probability on the 12-month scale
    decision = decide(s, wh, "test", result.version)
    assert decision.window["target"] == "early"
    assert decision.window["end"] == result.windows["oot"].split("..")[1]
