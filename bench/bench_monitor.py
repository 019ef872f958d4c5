"""Time the drift check of a 1M-row window against a 1M-row reference, 30 columns: our CSI per
feature and the score PSI on every row, and Evidently's DataDriftPreset (with its HTML report) on
the documented sample (``monitoring.evidently_sample_rows`` rows per side), separately and in total.

    .venv/bin/python bench/bench_monitor.py [--rows 1000000] [--columns 30] [--sample 50000]

The frames are synthetic (not timed): 25 numeric columns of the shapes credit features have
(normal, log-normal, counts, shares with missing values) and 5 categorical ones as pandas
Categoricals, the way ``build_features`` returns them; a third of the columns are shifted in the
window so both implementations have drift to find. Target: under 20 s in all.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.core.stage_settings import MonitoringSettings
from pipelines.monitoring.drift import csi_table, evidently_drift, score_psi

LEVELS = ["a", "b", "c", "d", "e"]


def frame(rows: int, columns: int, seed: int, shift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_cat = max(1, columns // 6)
    data: dict[str, object] = {}
    for i in range(columns - n_cat):
        moved = shift and i % 3 == 0
        kind = i % 4
        if kind == 0:
            col = rng.normal(0.3 if moved else 0.0, 1.0, rows)
        elif kind == 1:
            col = rng.lognormal(10.8 + (0.15 if moved else 0.0), 0.5, rows)
        elif kind == 2:
            col = rng.poisson(1.3 if moved else 1.0, rows).astype(float)
        else:
            col = rng.beta(2, 5, rows)
            col[rng.random(rows) < (0.04 if moved else 0.02)] = np.nan
        data[f"num_{i:02d}"] = col
    for j in range(n_cat):
        p = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
        if shift and j % 2 == 0:
            p = p[::-1]
        data[f"cat_{j}"] = pd.Categorical(np.array(LEVELS)[rng.choice(5, rows, p=p)],
                                          categories=LEVELS)
    return pd.DataFrame(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--sample", type=int, default=MonitoringSettings().evidently_sample_rows)
    args = parser.parse_args()
    cfg = MonitoringSettings()

    t0 = time.perf_counter()
    ref = frame(args.rows, args.columns, seed=1, shift=False)
    cur = frame(args.rows, args.columns, seed=2, shift=True)
    rng = np.random.default_rng(3)
    ref_scores, cur_scores = rng.normal(580, 30, args.rows), rng.normal(574, 32, args.rows)
    features = list(ref.columns)
    print(f"setup: {args.rows:,} x {args.columns} reference and window "
          f"({time.perf_counter() - t0:.1f} s, not timed)")

    import evidently  # noqa: F401  (its import, ~4 s here, is paid once per process, not per day)

    t_ours = time.perf_counter()
    csi = csi_table(ref, cur, features, cfg.psi_bins, cfg.psi_epsilon, cfg.psi_bands)
    psi_value, psi_band = score_psi(ref_scores, cur_scores, cfg.psi_bins, cfg.psi_epsilon,
                                    cfg.psi_bands)
    ours = time.perf_counter() - t_ours

    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "drift.html"
        t_ev = time.perf_counter()
        ev = evidently_drift(ref, cur, features, args.sample, cfg.drift_share_threshold,
                             cfg.evidently_method, seed=0, html_path=html)
        evid = time.perf_counter() - t_ev
        size_mb = html.stat().st_size / 1e6

    shifted = int((csi["band"] == "shift").sum())
    print(f"ours (CSI x {len(features)} + score PSI, all {args.rows:,} rows per side): "
          f"{ours:6.2f} s  -> {shifted} features in the shift band, score PSI {psi_value:.3f} "
          f"({psi_band})")
    print(f"Evidently DataDriftPreset + HTML ({ev.sample_rows[0]:,} + {ev.sample_rows[1]:,} "
          f"rows sampled): {evid:6.2f} s  -> drifted share {ev.drifted_share:.2f} "
          f"({ev.drifted_count} features), report {size_mb:.1f} MB")
    total = ours + evid
    print(f"total: {total:.2f} s (target < 20 s: {'met' if total < 20 else 'MISSED'})")


if __name__ == "__main__":
    main()
