"""Evaluation predicts every out-of-time application once and reads the labelled rows' PDs from
them: the same PDs as predicting the labelled rows on their own, whatever their order. The
features gate leaves out (and counts) the rows it quarantines, and copies no window it keeps whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.champion import current_champion
from pipelines.core.settings import Settings
from pipelines.training.evaluate import predict_oot
from pipelines.training.trainset import load_training_set, validate_training_set, windows_for
from pipelines.warehouse.engine import Warehouse


def test_labelled_oot_pds_are_read_from_every_application(trained_home: Path) -> None:
    s = Settings()
    wh = Warehouse.from_settings(s)
    ts = load_training_set(s, wh, windows_for(s, wh))
    model = current_champion(s).model
    labelled = ts.X["oot"]
    assert len(labelled) < len(ts.applications["oot"])  # unbooked and immature rows exist
    oot = predict_oot(model, ts)
    np.testing.assert_array_equal(oot.raw, model.raw_proba(labelled))
    np.testing.assert_array_equal(oot.pd, model.predict_pd(labelled))
    assert len(oot.pd_everyone) == len(oot.everyone) == len(ts.applications["oot"])

    # shuffled labelled rows: still found by their application id
    ts.X["oot"] = labelled.iloc[::-1]
    np.testing.assert_array_equal(predict_oot(model, ts).pd, model.predict_pd(labelled.iloc[::-1]))
    # a repeated id cannot be told apart: the labelled rows are predicted on their own
    everyone = ts.applications["oot"]
    ts.applications["oot"] = everyone.iloc[[0, *range(len(everyone))]]
    np.testing.assert_array_equal(predict_oot(model, ts).pd, model.predict_pd(labelled.iloc[::-1]))


def test_the_features_gate_leaves_out_and_counts_the_rows_it_quarantines(
        trained_home: Path) -> None:
    s = Settings()
    wh = Warehouse.from_settings(s)
    ts = load_training_set(s, wh, windows_for(s, wh))
    bad_id = ts.X["train"].index[7]
    ts.X["train"].loc[bad_id, "ltv"] = -1.0  # below the features suite's minimum
    before = {w: (ts.X[w], len(ts.X[w])) for w in ts.X}
    ts = validate_training_set(s, ts)
    assert bad_id not in ts.X["train"].index
    assert len(ts.X["train"]) == len(ts.y["train"]) == before["train"][1] - 1
    assert ts.counts["train"]["quarantined"] == 1
    for window in ("early_stopping", "calibration", "oot"):  # nothing to leave out: no copy
        assert ts.X[window] is before[window][0] and ts.counts[window]["quarantined"] == 0
