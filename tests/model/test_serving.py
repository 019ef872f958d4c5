"""The registered model served by MLflow (models.serving) decides like daily scoring: on the
trained fixture, the pyfunc loaded in-process and ``mlflow models predict`` in a fresh process
return, from plain rows, the PD, points, decision and reason codes that scoring wrote to the
warehouse for the same applications."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import validate_serving_input

from models.policy import OUTPUT_COLUMNS
from models.registry import load_pd_model
from models.serving import plain_rows
from pipelines.core.settings import Settings
from pipelines.scoring.chunks import feature_frame
from pipelines.scoring.run import score_day
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_config, feature_history, load_applications

pytestmark = pytest.mark.slow

DAY = date(2025, 6, 18)  # the busiest date of the fixture's last months (43 applications)
MODEL = "creditflow-pd"
CHAMPION_URI = f"models:/{MODEL}@champion"


@dataclass
class Scored:
    settings: Settings
    rows: pd.DataFrame  # plain input rows (strings, floats, None), index = application_id
    written: pd.DataFrame  # what scoring wrote for them: OUTPUT_COLUMNS, same index


@pytest.fixture
def scored(trained_settings: Settings) -> Scored:
    s = trained_settings
    wh = Warehouse.from_settings(s)
    score_day(s, wh, DAY)
    written = wh.read("scores", where="business_date = :d AND role = 'champion'",
                      params={"d": DAY}).set_index("application_id").sort_index()
    model = load_pd_model(s.tracking_uri, MODEL, alias="champion")
    outcomes = feature_history(wh, DAY, feature_config(s))
    X = feature_frame(load_applications(wh, DAY, DAY), outcomes, model, DAY, s)
    wh.dispose()
    assert written["decision"].nunique() >= 2 and written["reason_1"].notna().any()
    return Scored(s, plain_rows(model, X.loc[written.index]), written[list(OUTPUT_COLUMNS)])


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)


def same_as_scoring(served: pd.DataFrame, written: pd.DataFrame) -> None:
    served = served.set_axis(written.index)[list(OUTPUT_COLUMNS)]
    assert np.array_equal(served["pd"].to_numpy(float), written["pd"].to_numpy(float))
    assert np.array_equal(served["score"].to_numpy(float), written["score"].to_numpy(float))
    text = [*OUTPUT_COLUMNS[2:]]
    as_text = [frame[text].astype(object).where(frame[text].notna(), None)
               for frame in (served, written)]
    pd.testing.assert_frame_equal(as_text[0], as_text[1])


def test_pyfunc_in_process_decides_like_scoring(scored: Scored) -> None:
    rows = scored.rows.copy()
    rows["ltv"] = rows["ltv"].map(lambda v: None if v is None else repr(v))  # numeric strings
    rows = rows[rows.columns[::-1]]  # columns by name, in any order
    with tracking(scored.settings.tracking_uri):
        served = mlflow.pyfunc.load_model(CHAMPION_URI).predict(rows)
    same_as_scoring(served, scored.written)


def test_serving_input_example_and_plain_strings_validate(scored: Scored) -> None:
    request = {"dataframe_split": {"columns": list(scored.rows.columns),
                                   "data": scored.rows.head(5).to_numpy().tolist()}}
    request["dataframe_split"]["data"][0][0] = str(request["dataframe_split"]["data"][0][0])
    with tracking(scored.settings.tracking_uri):
        folder = Path(mlflow.artifacts.download_artifacts(CHAMPION_URI))
        for serving_input in ((folder / "serving_input_example.json").read_text(),
                              json.dumps(request)):
            out = validate_serving_input(CHAMPION_URI, serving_input)
            assert list(out.columns) == list(OUTPUT_COLUMNS)


def test_mlflow_models_predict_returns_what_scoring_wrote(scored: Scored, tmp_path: Path
                                                          ) -> None:
    request = tmp_path / "input.json"
    request.write_text(json.dumps({"dataframe_split": {
        "columns": list(scored.rows.columns), "data": scored.rows.to_numpy().tolist()}}))
    answer = tmp_path / "output.json"
    env = {**os.environ, "MLFLOW_TRACKING_URI": scored.settings.tracking_uri}
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", CHAMPION_URI,
         "--env-manager", "local", "-i", str(request), "-t", "json", "-o", str(answer)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = pd.DataFrame(json.loads(answer.read_text())["predictions"])
    same_as_scoring(served, scored.written)
