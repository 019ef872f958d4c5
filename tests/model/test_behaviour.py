"""Behavioural tests of the trained champion (in the spirit of Made-With-ML's tests/model): not how
well it ranks, but whether it behaves as a credit model must on realistic rows.

The rows are the champion's own reference sample (training-window applications with the features
exactly as ``build_features`` made them; models.registry.build_reference), 500 of them drawn with
a fixed seed. PDs are the calibrated ones (``PDModel.predict_pd``), as scoring writes them.

Tolerance: directions are compared with ``PD_TOL`` = 1e-9 absolute. XGBoost's monotone
constraints and a monotone calibrator make the calibrated PD monotone exactly; the tolerance only
absorbs float noise and is far below anything visible (a score point is ~1e-3 in PD). Invariances
(unused columns, row order, batch boundaries) are asserted exactly: the same row must get the
same bits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.registry import FEATURES
from models.pd_model import ModelSignatureError, PDModel
from models.registry import PD_COL, load_pd_model, load_reference
from tests.trained import forget_artifact_locations, small_settings

N_ROWS = 500
PD_TOL = 1e-9
BUREAU_FLOOR = 300.0  # the lowest score a bureau reports
GRID_POINTS = 21  # quantiles of a feature's observed range, plus one step beyond each end


@dataclass(frozen=True)
class Champion:
    model: PDModel
    reference: pd.DataFrame  # the model's features and stored PD for N_ROWS rows


@pytest.fixture(scope="module")
def champion(trained_home_template: Path) -> Iterator[Champion]:
    """Loaded once for the module, read-only, from the session's trained home: ``trained_home``
    copies the whole home per test, which these tests (they write nothing) do not need."""
    settings = small_settings(trained_home_template)
    # MLflow caches run artifact locations per process: a copy relocated by an earlier test must
    # not be read in place of the template, nor the template's stay cached for a later copy.
    forget_artifact_locations()
    name = settings.training.registered_model_name
    model = load_pd_model(settings.tracking_uri, name, alias="champion")
    reference = load_reference(settings.tracking_uri, name, alias="champion")
    forget_artifact_locations()
    assert len(reference) >= N_ROWS, f"reference sample holds only {len(reference)} rows"
    rows = reference.sample(n=N_ROWS, random_state=0).reset_index(drop=True)
    yield Champion(model, rows[[*model.feature_names, PD_COL]])


def features_of(champion: Champion) -> pd.DataFrame:
    return champion.reference[champion.model.feature_names]


def grid(values: pd.Series) -> np.ndarray:
    """Ascending values spanning what the feature takes, and a little beyond (a new application
    may fall outside the training range; the direction must hold there too)."""
    observed = values.dropna().to_numpy(dtype=float)
    points = np.quantile(observed, np.linspace(0.0, 1.0, GRID_POINTS))
    step = max(float(observed.max() - observed.min()) * 0.1, 1e-6)
    return np.unique(np.concatenate([[observed.min() - step], points, [observed.max() + step]]))


def pd_along(model: PDModel, X: pd.DataFrame, feature: str, values: np.ndarray) -> np.ndarray:
    """(len(values), len(X)) calibrated PDs with ``feature`` set to each value on every row,
    scored as one frame (one booster call instead of one per value)."""
    stacked = pd.concat([X] * len(values), ignore_index=True)
    stacked[feature] = np.repeat(values, len(X))
    return model.predict_pd(stacked).reshape(len(values), len(X))


# -- the champion is the model these tests think it is ------------------------------------------


def test_champion_reproduces_its_reference_pds(champion: Champion) -> None:
    """The loaded champion gives the PDs stored with its reference sample: the rows and the model
    below belong together."""
    np.testing.assert_allclose(champion.model.predict_pd(features_of(champion)),
                               champion.reference[PD_COL].to_numpy(), rtol=0, atol=1e-12)


def test_declared_directions_reach_the_model(champion: Champion) -> None:
    """Every built-in feature the champion uses carries the direction the feature registry
    declares; otherwise the direction checks below would test a weaker model than intended."""
    declared = {s.name: s.monotone for s in FEATURES if s.name in champion.model.feature_names}
    assert {k: v for k, v in champion.model.monotone.items() if k in declared} == declared
    assert any(declared.values()), "the champion uses no feature with a declared direction"


# -- (a) monotone directions --------------------------------------------------------------------


def test_monotone_directions_hold(champion: Champion) -> None:
    """Moving a feature up (every row, across its whole range) never moves the PD against the
    feature's declared direction (+1: PD up or equal; -1: PD down or equal)."""
    model, X = champion.model, features_of(champion)
    directed = {f: d for f, d in model.monotone.items() if d != 0}
    broken = []
    for feature, direction in sorted(directed.items()):
        pds = pd_along(model, X, feature, grid(X[feature]))
        against = -direction * np.diff(pds, axis=0)  # > 0 where the PD moved the wrong way
        if (against > PD_TOL).any():
            rows = int((against > PD_TOL).any(axis=0).sum())
            broken.append(f"{feature} (direction {direction:+d}): {rows} of {len(X)} rows, "
                          f"worst step {against.max():.3g} in PD")
    assert not broken, "PD moves against the declared direction:\n  " + "\n  ".join(broken)


# -- (b) a worse bureau score never lowers the PD -----------------------------------------------


@pytest.mark.parametrize("points", [10, 50, 150])
def test_lower_bureau_score_never_lowers_pd(champion: Champion, points: int) -> None:
    model, X = champion.model, features_of(champion)
    assert "bureau_score" in model.feature_names
    worse = X.copy()
    worse["bureau_score"] = np.maximum(X["bureau_score"] - points, BUREAU_FLOOR)  # NaN stays NaN
    before, after = model.predict_pd(X), model.predict_pd(worse)
    lowered = np.flatnonzero(after < before - PD_TOL)
    assert lowered.size == 0, (
        f"{lowered.size} of {len(X)} rows get a lower PD with a bureau score {points} points "
        f"worse, e.g. row {lowered[0]}: {before[lowered[0]]:.6f} -> {after[lowered[0]]:.6f}")
    if points == 150:  # the check is not vacuous: the model does use the score
        assert after.mean() > before.mean()


def test_an_older_applicant_never_gets_a_higher_pd(champion: Champion) -> None:
    """Age is a prohibited basis (Regulation B: no negative factor for an elderly applicant):
    at any age from 18 to 95, being older never raises an applicant's PD; the registry marks
    it as such and the fitted model carries the constraint."""
    model, X = champion.model, features_of(champion)
    spec = next(s for s in FEATURES if s.name == "applicant_age")
    assert spec.fair_lending == "prohibited_basis" and model.monotone["applicant_age"] == -1
    pds = pd_along(model, X, "applicant_age", np.arange(18.0, 96.0, 1.0))
    raised = np.diff(pds, axis=0) > PD_TOL
    assert not raised.any(), f"{int(raised.any(axis=0).sum())} rows get a higher PD when older"


# -- (c) fields the model does not use ----------------------------------------------------------


def with_unused_columns(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """X with what an application row also carries (ids, a name, a free-text field, an unused
    number), the columns in another order."""
    rng = np.random.default_rng(seed)
    wide = X.assign(application_id=[f"A{seed}-{i:06d}" for i in rng.permutation(len(X))],
                    dealer_id=rng.choice(["D001", "D002", "D003"], len(X)),
                    applicant_name=rng.choice(["Ann", "Bo", "Cy"], len(X)),
                    unused_number=rng.normal(size=len(X)))
    columns = list(wide.columns)
    rng.shuffle(columns)
    return wide[columns]


def test_model_refuses_columns_it_does_not_use(champion: Champion) -> None:
    """check_frame refuses an extra column (naming it) rather than silently scoring a frame that
    may be misaligned; callers select ``X[model.feature_names]``, as scoring does."""
    X = features_of(champion)
    with pytest.raises(ModelSignatureError, match=r"extra columns.*application_id"):
        champion.model.predict_pd(X.assign(application_id="A1"))
    with pytest.raises(ModelSignatureError, match="out of order"):
        champion.model.predict_pd(X[list(reversed(X.columns))])


def test_unused_columns_do_not_move_the_pd(champion: Champion) -> None:
    model, X = champion.model, features_of(champion)
    expected = model.predict_pd(X)
    for seed in (1, 2):  # two different sets of ids, names and numbers
        wide = with_unused_columns(X, seed)
        np.testing.assert_array_equal(model.predict_pd(wide[model.feature_names]), expected)


# -- (d) row order and batch boundaries ---------------------------------------------------------


def test_pd_invariant_to_row_order(champion: Champion) -> None:
    model, X = champion.model, features_of(champion)
    expected = model.predict_pd(X)
    order = np.random.default_rng(3).permutation(len(X))
    shuffled = X.iloc[order]  # index kept: a caller joining back by index must still line up
    np.testing.assert_array_equal(model.predict_pd(shuffled), expected[order])
    np.testing.assert_array_equal(model.predict_pd(shuffled.reset_index(drop=True)),
                                  expected[order])


def test_pd_invariant_to_batch_boundaries(champion: Champion) -> None:
    """Scoring splits a day into chunks: a row's PD must not depend on which rows share its
    chunk (here 37-row batches and single rows)."""
    model, X = champion.model, features_of(champion)
    expected = model.predict_pd(X)
    batched = np.concatenate([model.predict_pd(X.iloc[i:i + 37]) for i in range(0, len(X), 37)])
    np.testing.assert_array_equal(batched, expected)
    for i in (0, len(X) // 2, len(X) - 1):
        np.testing.assert_array_equal(model.predict_pd(X.iloc[[i]]), expected[[i]])
