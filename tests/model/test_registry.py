"""models.registry on a real MLflow store (SQLite backend + artifact folder in a tmp dir), and the
PDModel feature contract the registry preserves."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models import registry as R
from models.pd_model import ModelSignatureError, PDModel
from models.policy import ScoringPolicy
from pipelines.core.settings import disable_telemetry

disable_telemetry()
POLICY = ScoringPolicy(base_score=600.0, base_odds=50.0, pdo=20.0, approve_at=570.0,
                       decline_below=535.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mlflow")
    return {"uri": f"sqlite:///{root}/mlflow.db", "artifacts": str(root / "mlartifacts")}


def _run(store, name: str = "t") -> R.TrackedRun:
    return R.start_run(store["uri"], "creditflow-test", store["artifacts"], run_name=name)


@pytest.fixture(scope="module")
def registered(store, book, pd_model) -> tuple[str, str, R.TrackedRun]:
    run = _run(store)
    run.log_metrics({"oot_auc": 0.75})
    version = R.register_pd_model(run, pd_model, book.X_train, "pd-reload",
                                  version_tags={"config_hash": "abc"}, policy=POLICY)
    R.log_reference(run, R.build_reference(pd_model, book.X_train, max_rows=1000))
    run.finish()
    return "pd-reload", version, run


def test_reloaded_by_alias_predicts_bit_equal(store, book, pd_model, registered):
    name, version, run = registered
    loaded = R.load_pd_model(store["uri"], name, alias=R.CHALLENGER)
    assert (loaded.name, loaded.version, loaded.run_id) == (name, version, run.run_id)
    X = book.X_test
    assert np.array_equal(loaded.predict_pd(X), pd_model.predict_pd(X))
    assert np.array_equal(loaded.raw_proba(X), pd_model.raw_proba(X))
    assert np.array_equal(loaded.contributions(X.head(100)), pd_model.contributions(X.head(100)))
    assert loaded.spec() == pd_model.spec()
    by_number = R.load_pd_model(store["uri"], name, version=version)
    assert np.array_equal(by_number.predict_pd(X), pd_model.predict_pd(X))


def test_registered_version_records_run_and_tags(store, registered):
    name, version, run = registered
    info = R.version_info(store["uri"], name, version)
    assert info["run_id"] == run.run_id
    assert info["tags"]["config_hash"] == "abc"
    assert R.CHALLENGER in info["aliases"]
    # the model's artifacts live under the given artifact root, not in the working directory
    model_dir = _model_dir(store, name, version)
    assert str(model_dir).startswith(store["artifacts"])
    assert (model_dir / "MLmodel").exists() and (model_dir / "input_example.json").exists()
    assert (model_dir / "artifacts" / "spec.json").exists()
    assert len(info["tags"][R.SHA256_TAG]) == 64


def test_reference_round_trip(store, pd_model, book, registered):
    name, _, _ = registered
    ref = R.load_reference(store["uri"], name, alias=R.CHALLENGER)
    assert len(ref) == 1000
    assert list(ref.columns) == [*pd_model.feature_names, R.RAW_PD_COL, R.PD_COL]
    assert np.array_equal(ref[R.PD_COL].to_numpy(), pd_model.predict_pd(ref[pd_model.feature_names]))
    assert isinstance(ref["vehicle_condition"].dtype, pd.CategoricalDtype)


def _model_dir(store, name: str, version: str) -> Path:
    client = MlflowClient(store["uri"], store["uri"])
    source = client.get_model_version(name, version).source  # models:/<model_id>
    location = client.get_logged_model(source.split("/")[-1]).artifact_location
    return Path(location.removeprefix("file://"))


def test_missing_or_corrupted_artifact_names_the_version(store, book, pd_model):
    run = _run(store, "corrupt")
    name = "pd-corrupt"
    version = R.register_pd_model(run, pd_model, book.X_train, name, policy=POLICY)
    model_dir = _model_dir(store, name, version)
    (model_dir / "artifacts" / "booster.ubj").write_bytes(b"not a booster")
    with pytest.raises(R.RegistryError, match=f"{name} version {version}"):
        R.load_pd_model(store["uri"], name, version=version)
    shutil.rmtree(model_dir)
    with pytest.raises(R.RegistryError, match=f"{name} version {version}.*missing or corrupted"):
        R.load_pd_model(store["uri"], name, alias=R.CHALLENGER)
    with pytest.raises(R.RegistryError, match=f"version {version}.*reference"):
        R.load_reference(store["uri"], name, version=version)


def test_missing_alias_and_version(store, registered):
    name, _, _ = registered
    with pytest.raises(R.RegistryError, match="no alias 'champion'"):
        R.load_pd_model(store["uri"], name, alias=R.CHAMPION)
    with pytest.raises(R.RegistryError, match="version 99"):
        R.load_pd_model(store["uri"], name, version="99")
    with pytest.raises(R.RegistryError, match="exactly one"):
        R.load_pd_model(store["uri"], name)
    assert R.get_alias_version(store["uri"], "no-such-model", R.CHAMPION) is None


def _versions(store, name: str, n: int) -> list[str]:
    """Bare model versions (no artifacts): enough for alias moves, and fast."""
    client = MlflowClient(store["uri"], store["uri"])
    client.create_registered_model(name)
    return [client.create_model_version(name, source=f"file:///nowhere/{i}").version
            for i in range(n)]


def test_aliases_move_and_roll_back(store):
    name = "pd-aliases"
    v1, v2, v3 = map(str, _versions(store, name, 3))
    uri = store["uri"]
    client = MlflowClient(uri, uri)
    R.set_alias(client, name, R.CHALLENGER, v1)
    first = R.move_aliases_atomically(uri, name, v1, expected_champion=None)
    assert first["after"] == {R.CHAMPION: v1}  # challenger consumed, no previous yet
    R.set_alias(client, name, R.CHALLENGER, v2)
    second = R.move_aliases_atomically(uri, name, v2, expected_champion=v1)
    assert second["after"] == {R.CHAMPION: v2, R.PREVIOUS: v1}
    # a decision made against a stale champion moves nothing
    with pytest.raises(R.AliasConflictError, match=f"champion is version {v2}"):
        R.move_aliases_atomically(uri, name, v3, expected_champion=v1)
    assert R.aliases(uri, name) == {R.CHAMPION: v2, R.PREVIOUS: v1}
    back = R.rollback(uri, name)
    assert (back["champion"], back["demoted"]) == (v1, v2)
    assert R.aliases(uri, name) == {R.CHAMPION: v1}
    assert "rolled_back_at" in R.version_info(uri, name, v2)["tags"]
    with pytest.raises(R.RegistryError, match="no 'previous'"):
        R.rollback(uri, name)
    with pytest.raises(R.RegistryError, match="already the champion"):
        R.move_aliases_atomically(uri, name, v1, expected_champion=v1)


def test_two_promotions_at_once_leave_one_champion(store):
    name = "pd-race"
    v1, v2, v3 = map(str, _versions(store, name, 3))
    uri = store["uri"]
    R.move_aliases_atomically(uri, name, v1, expected_champion=None)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def promote(version: str) -> None:
        barrier.wait()
        try:
            R.move_aliases_atomically(uri, name, version, expected_champion=v1)
            outcomes[version] = "promoted"
        except R.AliasConflictError:
            outcomes[version] = "conflict"

    threads = [threading.Thread(target=promote, args=(v,)) for v in (v2, v3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "promoted"]
    winner = next(v for v, o in outcomes.items() if o == "promoted")
    assert R.aliases(uri, name) == {R.CHAMPION: winner, R.PREVIOUS: v1}


def test_lock_is_exclusive_and_times_out(store):
    second = R.alias_lock(store["uri"], timeout_s=0.2)
    with R.alias_lock(store["uri"]), pytest.raises(R.RegistryError, match="another promotion"):
        second.__enter__()
    with R.alias_lock(store["uri"], timeout_s=0.2):  # released again
        pass
    assert R.default_lock_path(store["uri"]).name == "mlflow.db.aliases.lock"


def test_lock_needs_a_path_for_remote_stores():
    with pytest.raises(R.RegistryError, match="lock_path"), R.alias_lock("http://127.0.0.1:5000"):
        pass
    with R.alias_lock("http://127.0.0.1:5000", external_lock=True):
        pass


def test_run_logging(store, book, booster):
    with R.tracked_run(store["uri"], "creditflow-test", store["artifacts"], "logging",
                       tags={"data_window": "2023-01..2024-12"}) as run:
        R.log_training(
            run,
            params={"training": {"max_depth": 3, "eta": 0.1},
                    "warehouse": "postgresql://user:s3cret@db:5432/x"},
            metrics={"oot_auc": 0.75, "oot_ece": float("nan")},
            texts={"model_card.md": "# card"},
            frames={"tables/deciles.csv": pd.DataFrame({"decile": [1, 2]})})
        run.log_trial(0, {"max_depth": 4}, {"valid_auc": 0.7})
    data = MlflowClient(store["uri"]).get_run(run.run_id)
    assert data.info.status == "FINISHED"
    assert data.data.params["training.max_depth"] == "3"
    assert "s3cret" not in data.data.params["warehouse"]
    assert data.data.metrics == {"oot_auc": 0.75}  # NaN skipped
    assert data.data.tags["data_window"] == "2023-01..2024-12"
    files = {f.path for f in MlflowClient(store["uri"]).list_artifacts(run.run_id, "tables")}
    assert files == {"tables/deciles.csv"}
    children = MlflowClient(store["uri"]).search_runs(
        [run.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.run_id}'")
    assert len(children) == 1 and children[0].data.metrics["valid_auc"] == 0.7


def test_failed_block_marks_run_failed(store):
    with pytest.raises(ZeroDivisionError), R.tracked_run(
            store["uri"], "creditflow-test", store["artifacts"], "boom") as run:
        1 / 0  # noqa: B018
    assert MlflowClient(store["uri"]).get_run(run.run_id).info.status == "FAILED"


# -- the PDModel feature contract ---------------------------------------------------------------


def test_check_frame_names_missing_extra_and_order(book, pd_model):
    X = book.X_test
    with pytest.raises(ModelSignatureError, match=r"missing columns \['ltv'\]"):
        pd_model.check_frame(X.drop(columns="ltv"))
    with pytest.raises(ModelSignatureError, match=r"extra columns \['surprise'\]"):
        pd_model.check_frame(X.assign(surprise=1.0))
    with pytest.raises(ModelSignatureError, match="out of order"):
        pd_model.check_frame(X[X.columns[::-1]])
    with pytest.raises(ModelSignatureError, match="DataFrame"):
        pd_model.raw_proba(X.to_numpy())


def test_check_frame_names_mistyped_columns(book, pd_model):
    X = book.X_test.head(5).copy()
    X["pti"] = X["pti"].astype(str)
    with pytest.raises(ModelSignatureError, match="pti: expected numeric"):
        pd_model.predict_pd(X)
    Y = book.X_test.head(5).astype({"vehicle_condition": object})
    Y.loc[Y.index[0], "vehicle_condition"] = "demo"
    with pytest.raises(ModelSignatureError, match=r"vehicle_condition: levels never seen.*demo"):
        pd_model.predict_pd(Y)


def test_strings_and_reordered_categories_are_recoded(book, pd_model):
    X = book.X_test
    as_text = X.astype({"vehicle_condition": object})
    reordered = X.assign(vehicle_condition=X["vehicle_condition"].cat.reorder_categories(
        ["used", "new"]))
    expected = pd_model.predict_pd(X)
    assert np.array_equal(pd_model.predict_pd(as_text), expected)
    assert np.array_equal(pd_model.predict_pd(reordered), expected)
    assert pd_model.check_frame(X) is X  # nothing to fix: no copy


def test_from_training_records_the_contract(book, booster, pd_model):
    assert pd_model.feature_names == list(book.X_train.columns)
    assert pd_model.feature_dtypes["vehicle_condition"] == "category"
    assert pd_model.categories == {"vehicle_condition": ["new", "used"]}
    assert pd_model.feature_dtypes["ltv"] == "float"
    with pytest.raises(ModelSignatureError, match="numeric or pandas Categorical"):
        PDModel.from_training(booster, pd_model.calibrator,
                              book.X_train.astype({"vehicle_condition": object}), {}, {})


def test_all_null_object_column_is_accepted(book, pd_model):
    X = book.X_test.head(5).copy()
    X["employment_years"] = pd.Series([None] * 5, dtype=object, index=X.index)
    expected = pd_model.predict_pd(X.astype({"employment_years": float}))
    assert np.array_equal(pd_model.predict_pd(X), expected)


def test_registry_leaves_the_global_mlflow_uri_alone(store, registered, monkeypatch):
    import os

    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    before = mlflow.get_tracking_uri()
    R.load_pd_model(store["uri"], registered[0], alias=R.CHALLENGER)
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///elsewhere.db"
    assert mlflow.get_tracking_uri() == before


def test_reference_keeps_the_model_features_of_a_wider_window(book, pd_model) -> None:
    wider = book.X_train.assign(region="north", pd=0.5)  # a column named like the PD, too
    ref = R.build_reference(pd_model, wider, max_rows=500, seed=3)
    same = R.build_reference(pd_model, book.X_train, max_rows=500, seed=3)
    pd.testing.assert_frame_equal(ref, same)
    assert list(ref.columns) == [*pd_model.feature_names, "raw_pd", "pd"]
    with pytest.raises(ModelSignatureError):
        R.build_reference(pd_model, book.X_train.drop(columns=pd_model.feature_names[0]))
