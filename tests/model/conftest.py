"""A small synthetic book with known monotone effects, and one booster fitted on it per session
(shared by the model tests so the fit is paid once)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models.calibration import Calibrator
from models.fit import fit_booster
from models.pd_model import PDModel

MONOTONE = {"ltv": 1, "pti": 1, "bureau_score": -1, "inquiries_6m": 1, "employment_years": -1}
REASONS = {"ltv": "Loan amount high relative to vehicle value",
           "pti": "Payment high relative to income",
           "bureau_score": "Credit bureau score",
           "inquiries_6m": "Recent credit inquiries",
           "employment_years": "Time in employment",
           "vehicle_condition": "Vehicle condition",
           "noise": "Unrelated"}
PARAMS = {"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 5.0, "subsample": 0.9,
          "colsample_bytree": 0.9, "reg_lambda": 1.0, "nthread": 1}


def make_book(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(X, y, true_pd): risk rises with ltv, pti, inquiries and used cars, falls with bureau
    score and employment years; 'noise' has no effect; 5% of employment_years missing."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "ltv": rng.uniform(0.5, 1.4, n),
        "pti": rng.uniform(0.02, 0.25, n),
        "bureau_score": np.clip(rng.normal(680, 60, n), 300, 850),
        "inquiries_6m": rng.poisson(1.0, n).astype(float),
        "employment_years": rng.exponential(5.0, n),
        "vehicle_condition": pd.Categorical(rng.choice(["new", "used"], n, p=[0.4, 0.6]),
                                            categories=["new", "used"]),
        "noise": rng.normal(size=n),
    })
    X.loc[rng.random(n) < 0.05, "employment_years"] = np.nan
    logit = (-3.0 + 3.0 * (X["ltv"] - 0.9) + 8.0 * (X["pti"] - 0.12)
             - 0.012 * (X["bureau_score"] - 680) + 0.25 * X["inquiries_6m"]
             - 0.05 * X["employment_years"].fillna(5.0)
             + 0.5 * (X["vehicle_condition"] == "used"))
    true_pd = 1.0 / (1.0 + np.exp(-logit.to_numpy()))
    y = (rng.random(n) < true_pd).astype(int)
    return X, y, true_pd


@dataclass
class Book:
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    X_cal: pd.DataFrame
    y_cal: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray


@pytest.fixture(scope="session")
def book() -> Book:
    X, y, _ = make_book(8_000, seed=1)
    cuts = [4_000, 5_500, 6_500]  # rows stand in for time order: train, early stop, cal, test
    parts = np.split(np.arange(len(X)), cuts)
    frames = [(X.iloc[p].reset_index(drop=True), y[p]) for p in parts]
    return Book(*[item for pair in frames for item in pair])


@pytest.fixture(scope="session")
def booster(book: Book) -> xgb.Booster:
    return fit_booster(book.X_train, book.y_train, book.X_valid, book.y_valid, PARAMS, MONOTONE,
                       num_boost_round=150, early_stopping_rounds=15, seed=0)


@pytest.fixture(scope="session")
def pd_model(book: Book, booster: xgb.Booster) -> PDModel:
    cal = Calibrator("isotonic").fit(booster.inplace_predict(book.X_cal), book.y_cal)
    return PDModel.from_training(booster, cal, book.X_train, MONOTONE, REASONS)
