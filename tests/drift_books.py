"""The trained home's book under a drift scenario, for the drift-response tests: the simulator
draws every scenario's numbers alike, so the applications and loans of ``income_shock`` and
``ranking_shift`` (which move outcomes only) are the trained home's own rows, and only the tape
from the onset on differs. And the champion's PDs of a stretch of history, as daily scoring would
have stored them (the trained home's history was loaded unscored)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from models.scaling import decide_by_score, pd_to_score
from pipelines.champion import Champion
from pipelines.core.settings import Settings
from pipelines.ingest.load import write_frame
from pipelines.simulation.simulate import simulate_book
from pipelines.training.recalibrate import window_frame
from pipelines.warehouse.engine import Warehouse
from tests.trained import BOOK


def drift_outcomes(settings: Settings, wh: Warehouse, scenario: str, onset: date) -> None:
    """Replace the trained home's tape from ``onset``'s month on with ``scenario``'s."""
    book = simulate_book(BOOK.n_applications, BOOK.start, BOOK.end, seed=settings.seed,
                         scenario=scenario, scenario_start=onset)
    wh.execute("DELETE FROM repayments WHERE as_of_month >= :a", {"a": onset})
    tape = book.repayments[book.repayments["as_of_month"] >= str(onset)]
    write_frame(wh, tape.assign(batch_id=f"sim-test-{scenario}"), "repayments")


def champion_scored(settings: Settings, wh: Warehouse, champion: Champion, start: date,
                    end: date) -> None:
    """The champion's stored PDs of [start, end]'s applications (features as known at
    ``start``, so no later outcome reaches them), so monitoring judges each early-matured
    vintage against what the champion expected of it."""
    sc = settings.scoring
    apps, X = window_frame(settings, wh, champion.model, start, end, start)
    p = champion.model.predict_pd(X)
    points = pd_to_score(p, sc.base_score, sc.base_odds, sc.pdo)
    wh.upsert("scores", pd.DataFrame({
        "application_id": apps["application_id"].to_numpy(), "model_version": champion.version,
        "role": "champion", "model_name": settings.training.registered_model_name,
        "business_date": apps["business_date"].to_numpy(), "pd": p, "score": points,
        "decision": decide_by_score(points, sc.approve_at, sc.decline_below),
        "run_id": "test-history", "scored_at": pd.Timestamp(start)}))
