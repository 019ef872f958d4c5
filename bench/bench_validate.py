"""Time the validation gate on 1M applications against a bare pandas pass computing the same
checks (the row-level masks and the batch-level shares), on the same rows.

    .venv/bin/python bench/bench_validate.py [--rows 1000000] [--repeat 3] [--gx-rows]

The rows come from the simulator (``pipelines.simulation.simulate.simulate_book``), typed as ingest
leaves
them; 0.1% of them get a defect so the quarantine path is exercised. The gate is timed with and
without Data Docs. ``--gx-rows`` also times the alternative the gate does not use: every
expectation (row-level ones too) evaluated by GX's pandas engine with ``result_format=COMPLETE``,
as the measurement behind the choice documented in ``pipelines/validation/gx_suite.py``.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from datetime import date

import numpy as np
import pandas as pd
from timing import best_of  # bench/timing.py, beside this script

from pipelines.core.settings import Settings
from pipelines.simulation.simulate import simulate_book
from pipelines.validation.gate import run_gate
from pipelines.validation.gx_suite import GxBatch
from pipelines.warehouse.schema import CATEGORIES, applications

DAY = date(2025, 6, 30)
RANGES = {"applicant_age": (18, 100), "annual_income": (0, 1e7), "employment_years": (0, 80),
          "vehicle_price": (0, None), "vehicle_age_years": (0, 50), "loan_amount": (0, None),
          "down_payment": (0, None), "term_months": (6, 120), "interest_rate": (0, 0.6),
          "monthly_payment": (0, None), "monthly_debt": (0, None), "bureau_score": (300, 850),
          "inquiries_6m": (0, None), "delinquencies_2y": (0, None), "open_trades": (0, None),
          "revolving_utilization": (0, 10)}
# free text (no category list) and the width of its warehouse column: the gate quarantines wider
WIDTHS = {c.name: c.type.length for c in applications.columns
          if c.name in ("application_id", "dealer_id")}



def bare_checks(df: pd.DataFrame) -> tuple[np.ndarray, dict[str, float]]:
    """The gate's checks in plain pandas: which rows fail (text widths included), and the
    batch-level shares. Each column's nulls and the repeated ids are found once, as the gate
    does."""
    end = pd.Timestamp(DAY) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    null = {c: df[c].isna().to_numpy() for c in df.columns}
    bad = np.zeros(len(df), dtype=bool)
    for col, (lo, hi) in RANGES.items():
        s = df[col]
        bad |= (s < lo).to_numpy() | ((s > hi).to_numpy() if hi is not None else False)
    for col, values in CATEGORIES.items():
        bad |= ~null[col] & ~df[col].isin(values).to_numpy()
    for col in ("application_id", "application_ts", "business_date"):
        bad |= null[col]
    bad |= (df["application_ts"] > end).to_numpy() | (df["business_date"] > end).to_numpy()
    bad |= (df["loan_amount"] / df["vehicle_price"] > 3.0).to_numpy()
    bad |= (df["monthly_payment"] / (df["annual_income"] / 12) > 1.0).to_numpy()
    ids = df["application_id"]
    later = ids.duplicated().to_numpy()
    bad |= later
    for col, width in WIDTHS.items():
        # as cheap as the gate makes it: the lengths per row only when some value is too wide
        if max(map(len, df[col].to_numpy()[~null[col]]), default=0) > width:
            bad |= (df[col].str.len() > width).fillna(False).to_numpy(dtype=bool)
    shares = {f"null:{c}": float(m.mean()) for c, m in null.items()}
    # every copy of a repeated id, from the later copies' ids (one hash pass, as the gate)
    shares["duplicate_key"] = float(ids.isin(ids[later].unique()).mean()) if later.any() else 0.0
    shares["rows"] = len(df)
    shares["types_ok"] = float(all(pd.api.types.is_numeric_dtype(df[c]) for c in RANGES))
    return bad, shares


def with_defects(df: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = df.copy()
    rows = rng.choice(len(df), int(len(df) * share), replace=False)
    third = np.array_split(rows, 3)
    out.loc[third[0], "applicant_age"] = 15.0
    out.loc[third[1], "vehicle_segment"] = "hovercraft"
    out.loc[third[2], "loan_amount"] = -1.0
    return out


def gx_rows_alternative(df: pd.DataFrame, settings: Settings) -> float:
    """Every expectation in GX, row-level ones included, with unexpected index lists."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from pipelines.core.calendar import business_day_end
    from pipelines.validation.quarantine import load_suite

    suite = load_suite("applications", settings)
    checks = GxBatch(df, suite, None, pd.DataFrame(columns=["row_number", "rule", "column",
                                                            "value"]),
                     business_day_end(DAY))
    frame = df.assign(ltv=df["loan_amount"] / df["vehicle_price"],
                      pti=12 * df["monthly_payment"] / df["annual_income"])
    expectations = checks.batch_expectations() + [r.expectation_config.to_domain_obj()
                                                  for r in checks.row_results()[1]]
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    definition = ctx.data_sources.add_pandas("b").add_dataframe_asset("a") \
        .add_batch_definition_whole_dataframe("w")
    for e in expectations:
        e.id = None
    gx_suite = ctx.suites.add(gx.ExpectationSuite(name="all", expectations=expectations))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="all", data=definition,
                                                                suite=gx_suite))
    t0 = time.perf_counter()
    vd.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gx-rows", action="store_true",
                        help="also time GX evaluating the row-level expectations (slow)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    apps = simulate_book(args.rows, date(2024, 1, 1), DAY, seed=7).applications
    df = with_defects(apps, 0.001, seed=7)
    print(f"rows: {len(df):,} x {df.shape[1]} columns (simulated in "
          f"{time.perf_counter() - t0:.1f} s)")
    with tempfile.TemporaryDirectory() as home:
        # a throwaway home: its own salt (every gate refuses the shipped one)
        settings = Settings(home=home, security={"id_salt": secrets.token_hex(16)})
        run_gate(df.head(1000), "applications", "warm", settings, business_date=DAY)  # imports
        result = run_gate(df, "applications", "bench", settings, business_date=DAY,
                          data_docs=False)
        bad, _ = bare_checks(df)
        assert result.rows_quarantined == int(bad.sum()), (result.rows_quarantined, bad.sum())
        bare = best_of(lambda: bare_checks(df), args.repeat)
        gate = best_of(lambda: run_gate(df, "applications", "bench", settings,
                                        business_date=DAY, data_docs=False), args.repeat)
        docs = best_of(lambda: run_gate(df, "applications", "bench", settings,
                                        business_date=DAY), args.repeat)
        print(f"quarantined rows: {result.rows_quarantined:,} (bare pandas agrees); "
              f"expectations evaluated: {result.evaluated}")
        print(f"bare pandas checks:        {bare:6.2f} s")
        print(f"gate without Data Docs:    {gate:6.2f} s  ({gate / bare:.1f}x bare pandas)")
        print(f"gate with Data Docs:       {docs:6.2f} s  ({docs / bare:.1f}x bare pandas)")
        if args.gx_rows:
            full = gx_rows_alternative(df, settings)
            print(f"GX evaluating every expectation (COMPLETE): {full:6.2f} s "
                  f"({full / bare:.1f}x bare pandas)")


if __name__ == "__main__":
    main()
