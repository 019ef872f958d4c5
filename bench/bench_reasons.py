"""Exact vs approximate XGBoost contributions for reason codes.

Trains a booster with the project's default hyper-parameters (creditflow.toml [training]) on
synthetic application-like data, then times ``pred_contribs`` exact and approximate on a scoring
batch and reports how often the approximate top-k reasons agree with the exact ones: on all rows,
and on the riskiest rows (the declined and referred applications that are owed an adverse-action
notice).

    .venv/bin/python bench/bench_reasons.py                 # 100k x 25 train, 100k scored
    .venv/bin/python bench/bench_reasons.py --score-rows 20000   # quicker; times scaled to 100k
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from models.fit import fit_booster
from models.reasons import agreement_stats, contributions

PARAMS = {"max_depth": 4, "learning_rate": 0.05, "min_child_weight": 5.0, "subsample": 0.8,
          "colsample_bytree": 0.8, "reg_lambda": 1.0, "nthread": 2}


def synthetic(n: int, n_features: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Numeric features, a third of them monotone-risky, some interacting, ~7% bads."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, n_features)),
                     columns=[f"f{i:02d}" for i in range(n_features)])
    w = rng.normal(0, 0.5, n_features) * (rng.random(n_features) < 0.7)
    logit = -2.9 + X.to_numpy() @ w + 0.4 * X["f00"] * X["f01"] + 0.3 * np.maximum(X["f02"], 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    monotone = {f"f{i:02d}": int(np.sign(w[i])) for i in range(0, n_features, 3) if w[i] != 0}
    return X, y, monotone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-rows", type=int, default=100_000)
    ap.add_argument("--score-rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=25)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--risky-share", type=float, default=0.3,
                    help="share of riskiest rows standing in for declined + referred")
    args = ap.parse_args()

    X, y, monotone = synthetic(args.train_rows + 20_000, args.features, seed=0)
    Xs, _, _ = synthetic(args.score_rows, args.features, seed=1)
    t0 = time.perf_counter()
    booster = fit_booster(X.iloc[:args.train_rows], y[:args.train_rows],
                          X.iloc[args.train_rows:], y[args.train_rows:], PARAMS, monotone,
                          num_boost_round=600, early_stopping_rounds=40, seed=0)
    fit_s = time.perf_counter() - t0
    trees = booster.num_boosted_rounds()

    t0 = time.perf_counter()
    approx = contributions(booster, Xs, approx=True)
    approx_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = contributions(booster, Xs, approx=False)
    exact_s = time.perf_counter() - t0

    names = list(Xs.columns)
    every = agreement_stats(exact, approx, names, args.k)
    margin = exact.sum(axis=1)
    risky = margin >= np.quantile(margin, 1 - args.risky_share)
    worst = agreement_stats(exact[risky], approx[risky], names, args.k)

    per_100k = 100_000 / args.score_rows
    print(f"booster: {args.train_rows:,} x {args.features} rows, {trees} trees of depth "
          f"{PARAMS['max_depth']}, fit {fit_s:.1f} s")
    print(f"scored {args.score_rows:,} rows")
    print(f"exact  pred_contribs: {exact_s * per_100k:8.2f} s per 100k rows "
          f"({exact_s / args.score_rows * 1e3:.3f} ms per row)")
    print(f"approx pred_contribs: {approx_s * per_100k:8.2f} s per 100k rows "
          f"({approx_s / args.score_rows * 1e3:.3f} ms per row)")
    print(f"ratio exact / approx: {exact_s / approx_s:.1f}x")
    for label, stats in (("all rows", every),
                         (f"riskiest {args.risky_share:.0%} (decline + review)", worst)):
        print(f"top-{args.k} agreement, {label}: set {stats['topk_set_agreement']:.3f}, "
              f"ordered {stats['topk_ordered_agreement']:.3f}, "
              f"top-1 {stats['top1_agreement']:.3f}")


if __name__ == "__main__":
    main()
