"""The dealer_fraud scenario: how soon after the onset does a model trained then rank the ring's
applications above the rest? The PD family (12-month label) against the EPD family (its label's
window given), each trained on a copy of the warehouse cut at the date (no application, loan or
tape month after it), then scored on the applications of the month after the date. Prints, per
date and family: the training window, the OOT AUC, the ring's mean predicted risk over the
rest's, and the share of the ring's applications in the top decile.

    CREDITFLOW_SECURITY__ID_SALT=<a secret> .venv/bin/python bench/bench_epd_fraud.py \\
        --rows 120000 --epd-months 3 2023-12-31 2024-06-30 2024-12-31

The book is simulated once into --dir/full (onset 2023-04-01) and reused by later runs.
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from models.registry import load_pd_model
from pipelines.core.families import family_settings
from pipelines.core.settings import Settings
from pipelines.scoring.chunks import feature_frame
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import fraud_dealers, simulate_book
from pipelines.training.train import train_model
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_config, feature_history, load_applications

ONSET = date(2023, 4, 1)
CUT_SQL = ("DELETE FROM applications WHERE business_date > :d",
           "DELETE FROM loans WHERE origination_date > :d",
           "DELETE FROM repayments WHERE as_of_month > :d")


def full_book(root: Path, rows: int, base: dict) -> Warehouse:
    home = root / "full"
    wh = Warehouse.from_settings(Settings(home=home, **base))
    wh.init()
    if not (home / "loaded").exists():
        book = simulate_book(rows, date(2021, 1, 1), date(2025, 6, 30), seed=42,
                             scenario="dealer_fraud", scenario_start=ONSET)
        load_book(wh, book, "bench")
        (home / "loaded").write_text("1")
    return wh


def cut_at(root: Path, cut: date, base: dict) -> Settings:
    home = root / f"cut_{cut}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(root / "full" / "warehouse.db", home / "warehouse.db")
    settings = Settings(home=home, **base)
    with Warehouse.from_settings(settings).engine.begin() as conn:
        for sql in CUT_SQL:
            conn.execute(text(sql), {"d": cut})
    return settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dates", nargs="+", type=date.fromisoformat)
    ap.add_argument("--rows", type=int, default=120_000)
    ap.add_argument("--epd-months", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/creditflow-bench-epd"))
    args = ap.parse_args()
    base = {"training": {"n_estimators": 300, "early_stopping_rounds": 30},
            "epd": {"months": args.epd_months}}
    full = full_book(args.dir, args.rows, base)
    ring = set(fraud_dealers(300, 42))
    for cut in args.dates:
        settings = cut_at(args.dir, cut, base)
        wh = Warehouse.from_settings(settings)
        nxt = (pd.Timestamp(cut) + pd.offsets.MonthEnd(1)).date()
        apps = load_applications(full, (pd.Timestamp(cut) + pd.Timedelta(days=1)).date(), nxt)
        outcomes = feature_history(full, nxt, feature_config(settings))
        is_ring = apps["dealer_id"].astype(str).isin(ring).to_numpy()
        for key, target in (("pd", "main"), ("epd", "epd")):
            fs = family_settings(settings, key)
            t0 = time.perf_counter()
            result = train_model(fs, wh, triggered_by="bench", target=target)
            model = load_pd_model(fs.tracking_uri, result.model_name, version=result.version)
            p = model.predict_pd(feature_frame(apps, outcomes, model, nxt, fs))
            top = p >= np.quantile(p, 0.9)
            print(f"{cut} {key:3} train {result.windows['train']} "
                  f"oot_auc {result.metrics['oot_auc']:.3f} "
                  f"ring/rest mean {p[is_ring].mean() / p[~is_ring].mean():.3f} "
                  f"ring in top decile {top[is_ring].mean():.3f} "
                  f"(ring share {is_ring.mean():.3f}) {time.perf_counter() - t0:.0f} s",
                  flush=True)


if __name__ == "__main__":
    main()
