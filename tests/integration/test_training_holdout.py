"""Training reports on the policy holdout: the out-of-time window's loans that the holdout
approved below the cut-off when they were scored, their realised bad rate against the model's
PD for them, in the evaluation's metrics (MLflow ``oot_holdout_*``) and the model card."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.holdout import holdout_report
from models.model_card import HEADLINE
from pipelines.champion import current_champion
from pipelines.core.settings import Settings
from pipelines.training.evaluate import evaluate
from pipelines.training.trainset import load_training_set, windows_for
from pipelines.warehouse.engine import Warehouse
from tests.drift_books import champion_scored


def test_holdout_report_counts_and_compares() -> None:
    y, pds = np.array([1, 0, 0, 1, 0]), np.array([0.2, 0.1, 0.3, 0.4, 0.05])
    held = np.array([True, True, False, False, False])
    assert holdout_report(y, pds, held) == {"holdout_loans": 2.0, "holdout_bad_rate": 0.5,
                                            "holdout_mean_pd": 0.15000000000000002}
    none = holdout_report(y, pds, np.zeros(5, dtype=bool))
    assert none["holdout_loans"] == 0 and np.isnan(none["holdout_bad_rate"])
    assert {"holdout_loans", "holdout_bad_rate", "holdout_mean_pd"} <= set(HEADLINE)


def test_training_reports_the_holdout_of_its_out_of_time_window(trained_home: Path) -> None:
    s = Settings()
    wh = Warehouse.from_settings(s)
    champion = current_champion(s)
    windows = windows_for(s, wh)
    champion_scored(s, wh, champion, *windows.oot)
    # the holdout's draw flags a share of what the champion did not approve
    scores = wh.read("scores", "decision != 'approve'")
    flagged = scores.iloc[::4].assign(holdout=1)
    wh.upsert("scores", flagged)

    ts = load_training_set(s, wh, windows)
    held = ts.holdout.reindex(ts.X["oot"].index, fill_value=False)
    assert 0 < held.sum() <= len(flagged)  # booked, labelled OOT loans among those flagged
    oot = evaluate(s, champion.model, ts).metrics["oot"]
    y = ts.y["oot"][held.to_numpy()]
    assert oot["holdout_loans"] == held.sum()
    assert oot["holdout_bad_rate"] == y.mean()
    # below the cut-off: the model's PDs for them are above the window's
    assert oot["holdout_mean_pd"] > oot["mean_pd"]
