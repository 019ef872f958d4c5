"""Time ``build_features`` on 1M applications, against the bare pandas arithmetic of the ratio
features alone (LTV, PTI, DTI, down-payment share) on the same rows.

    .venv/bin/python bench/bench_features.py [--rows 1000000] [--repeat 3]

The book comes from the simulator (3.5 years, 300 dealers); its loan-outcome history is computed
in pandas (``pipelines.warehouse.history.outcomes_from_frames``, the same frame ``load_outcomes``
reads from
the warehouse) and is not part of the timing. Every application is built with the full dealer
history (as_of = the last day), the training path's heaviest case. The dealer-history tables
are kept for the last history frame (a daily run reuses one per tape month), so the cold figure
builds on a fresh copy of the history each time and the warm one on the same frame.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import pandas as pd
from timing import best_of  # bench/timing.py, beside this script

from features import FeatureConfig, build_features, feature_specs
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse.history import business_day_end, outcomes_from_frames

START, END = date(2022, 1, 1), date(2025, 6, 30)




def bare_ratios(apps: pd.DataFrame) -> pd.DataFrame:
    income = apps["annual_income"] / 12
    return pd.DataFrame({
        "ltv": apps["loan_amount"] / apps["vehicle_price"],
        "pti": apps["monthly_payment"] / income,
        "dti": (apps["monthly_debt"] + apps["monthly_payment"]) / income,
        "down_payment_share": apps["down_payment"] / apps["vehicle_price"],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    book = simulate_book(args.rows, START, END, seed=42, n_dealers=300)
    history = outcomes_from_frames(book.loans, book.repayments, END, FeatureConfig())
    apps = book.applications
    del book
    print(f"setup: {len(apps):,} applications, {len(history):,} loans "
          f"({time.perf_counter() - t0:.1f} s, not timed)")

    as_of = business_day_end(END)
    config = FeatureConfig()
    specs = feature_specs()
    features = build_features(apps, history, as_of, config, specs)  # warm-up, and a sanity check
    assert features.shape == (len(apps), len(specs))
    copies = [history.copy() for _ in range(args.repeat)]  # cold: tables built each time
    t_build = best_of(lambda: build_features(apps, copies.pop(), as_of, config, specs),
                      args.repeat)
    t_warm = best_of(lambda: build_features(apps, history, as_of, config, specs), args.repeat)
    t_bare = best_of(lambda: bare_ratios(apps), args.repeat)
    t_dealer_free = best_of(
        lambda: build_features(apps, history, as_of, config,
                               [s for s in specs if not s.name.startswith("dealer_")]),
        args.repeat)

    rate = len(apps) / t_build
    print(f"build_features, {len(specs)} features: {t_build:.2f} s "
          f"({rate:,.0f} applications/s, best of {args.repeat})")
    print(f"  same history frame again (tables kept): {t_warm:.2f} s")
    print(f"  without the two dealer-history features: {t_dealer_free:.2f} s")
    print(f"bare pandas ratio arithmetic (4 features): {t_bare:.3f} s")
    print(f"ratio build_features / bare ratios: {t_build / t_bare:.1f}x")


if __name__ == "__main__":
    main()
