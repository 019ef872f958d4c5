"""Evaluation predicts every out-of-time application once and reads the labelled rows' PDs from
them: the same PDs as predicting the labelled rows on their own, whatever their order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.champion import current_champion
from pipelines.core.settings import Settings
from pipelines.training.evaluate import predict_oot
from pipelines.training.trainset import load_training_set, windows_for
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
