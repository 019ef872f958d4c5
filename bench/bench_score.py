"""Daily scoring end to end (``pipelines.scoring.run.score_day``) on one business date of
``--rows``
applications, against the sum of the bare parts on the same rows; peak RSS of a larger day
(``--rss-rows``) scored in a child process that measures its own ``ru_maxrss``.

    .venv/bin/python bench/bench_score.py                      # 1M rows; 5M rows for the RSS
    .venv/bin/python bench/bench_score.py --rows 200000 --rss-rows 0 --home /tmp/bench-score

Setup (not timed): a champion trained by ``pipelines.training.train.train_model`` on a
40k-application
simulated book (the test fixture's book and training settings), then a fresh SQLite warehouse
holding ``--rows`` simulated applications, all on ONE business date (and the loans booked from
them). ``--home`` keeps both for a rerun.

Bare parts, timed on the same rows: ``pd.read_sql`` of the date's applications,
``Booster.inplace_predict`` on the model's feature matrix (built untimed), and an executemany
``INSERT`` of the rows the pipeline wrote (same columns, prebuilt tuples) into an empty copy of
the scores table, committed. The pipeline runs twice, with exact and with approximate
contributions for the reason codes (``scoring.exact_contributions``), and the time of each of
its steps is printed, summed over the chunks.

Measured here (2 cores, load average 1.1-1.4, November 2026, second session): 1M rows, bare
parts 19.2 s (read 10.9, predict 1.5, insert 6.9); pipeline 42.5 s = 2.2x with approximate reason
codes, 79.7 s = 4.1x with exact ones (the default: 39.3 s of it is XGBoost's exact pred_contribs
for the ~30% declined or referred, 0.13 ms each, work the bare parts do not do). The two gates
cost 8 s (16 s in the first session, before the batch-level checks moved from GX's engine to
pandas). Peak RSS for 5M rows: 782 MB (243 s, approximate reasons); it was 2,467 MB earlier the
same day, when the loan history (3.87M loans, all booked on the scored date, so none can have
matured) was still read whole on the path with no recent tape. First session: 3.1x and 6.3x.

Issue 23 session (December 2026, ``--rows 500000 --rss-rows 0``, box shared with two other
engineers, load 4-10), the same home and day for both codes. Before (commit d6631cc, run from a
worktree), timing a forced rerun (its delete of the date's 500k scores inside the run): 3.4x
approximate, 5.1x exact; timing a date's first scoring as now: 2.4x and 1.6x approximate, 3.0x
and 3.2x exact. After (columnar read, (business_date, application_id) index, slim scores gate):
1.8x and 2.2x approximate, 3.3x and 3.9x exact. The load moved the bare parts from 15.3 s to
21.9 s between runs and XGBoost's exact contributions from 0.14 to 0.22 ms a row: the ratios
do not separate the codes here. Measured side by side in one process on the same 500k-row day:
``load_applications`` of the whole day 14.7 s before, 8.6 s after (same frame); of one 100k
chunk 3.0 s before, 2.1 s after; the read chunk step then sat at or below the bare read_sql
(9.4-10.5 s against 8.8-10.3 s). What remains above the bare parts: the upsert (9.6-11.9 s
against an executemany of 7.2-8.3 s), the two gates (7.3-7.6 s), reason codes and features.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Date, Index, MetaData, Table, bindparam, text

import pipelines.scoring.chunks as chunks
import pipelines.scoring.run as scoring_run
from features import build_features
from features.build import FeatureConfig
from models import policy
from models.pd_model import PDModel
from models.registry import get_alias_version, load_pd_model, move_aliases_atomically
from pipelines.core.home import configure_environment
from pipelines.core.settings import Settings
from pipelines.scoring.models import model_specs
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import Book, simulate_book
from pipelines.training.train import train_model
from pipelines.warehouse import tape_cache
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    business_day_end,
    feature_config,
    load_applications,
    load_outcomes,
)
from pipelines.warehouse.schema import scores as scores_table
from pipelines.warehouse.scoring import delete_scores

DAY = date(2025, 6, 18)
TRAIN_BOOK = {"n_applications": 40_000, "start": date(2021, 1, 1), "end": date(2025, 6, 30)}
TRAIN_OVERRIDES = {"n_estimators": 300, "early_stopping_rounds": 30}
SIM_BATCH = 1_000_000  # simulate a big day in batches: bounded memory in this process


def home_salt(home: Path) -> str:
    """The bench home's own id salt, made once and kept beside its data: every gate refuses
    the shipped one, and a rerun on the same home must pseudonymise the same way."""
    path = home / "id_salt"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
    return path.read_text().strip()


def settings_for(home: Path, warehouse_url: str | None = None, **scoring: Any) -> Settings:
    return Settings(home=home, warehouse_url=warehouse_url, simulate=TRAIN_BOOK,
                    training=TRAIN_OVERRIDES, scoring=scoring,
                    security={"id_salt": home_salt(home)})


def ensure_champion(home: Path) -> str:
    """The champion of ``home``, trained on a small simulated book if there is none yet."""
    settings = settings_for(home, f"sqlite:///{home / 'train.db'}")
    configure_environment(settings)
    name = settings.training.registered_model_name
    version = get_alias_version(settings.tracking_uri, name, "champion")
    if version is not None:
        return version
    wh = Warehouse.from_settings(settings)
    wh.init()
    book = simulate_book(TRAIN_BOOK["n_applications"], TRAIN_BOOK["start"], TRAIN_BOOK["end"],
                         seed=settings.seed)
    load_book(wh, book, "bench-train")
    result = train_model(settings, wh, triggered_by="bench_score")
    move_aliases_atomically(settings.tracking_uri, name, result.version, None)
    return result.version


def day_batches(rows: int, day: date) -> Iterator[Book]:
    """``rows`` applications of one date, simulated a million at a time; ids made unique per
    batch (each batch numbers its applications from zero)."""
    for i, start in enumerate(range(0, rows, SIM_BATCH)):
        book = simulate_book(min(SIM_BATCH, rows - start), day, day, seed=1000 + i)
        prefix = f"B{i:02d}"
        book.applications["application_id"] = prefix + book.applications["application_id"]
        book.loans["application_id"] = prefix + book.loans["application_id"]
        book.loans["loan_id"] = prefix + book.loans["loan_id"]
        book.repayments["loan_id"] = prefix + book.repayments["loan_id"]
        yield book


def ensure_day(home: Path, rows: int) -> str:
    """A SQLite warehouse holding ``rows`` applications on DAY (reused if already complete)."""
    path = home / f"day_{rows}.db"
    url = f"sqlite:///{path}"
    wh = Warehouse(url)
    wh.init()
    if wh.count("applications") != rows:
        wh.dispose()
        path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        wh = Warehouse(url)
        wh.init()
        t0 = time.perf_counter()
        for i, book in enumerate(day_batches(rows, DAY)):
            load_book(wh, book, f"bench-day-{i}")
        print(f"  simulated and loaded {rows:,} applications in {time.perf_counter() - t0:.0f} s")
    wh.dispose()
    return url


# -- the bare parts -------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bare_read(wh: Warehouse) -> float:
    stmt = text("SELECT * FROM applications WHERE business_date = :d").bindparams(
        bindparam("d", type_=Date))
    with wh.engine.connect() as conn:
        df, seconds = timed(lambda: pd.read_sql(stmt, conn, params={"d": DAY}))
    assert len(df) > 0
    return seconds


def bare_predict(settings: Settings, wh: Warehouse) -> tuple[float, int]:
    """inplace_predict on the champion's feature matrix of the day (the matrix built untimed)."""
    model = load_pd_model(settings.tracking_uri, settings.training.registered_model_name,
                          alias="champion")
    apps = load_applications(wh, DAY, DAY)
    X = build_features(apps, load_outcomes(wh, DAY, FeatureConfig()), business_day_end(DAY),
                       feature_config(settings), specs=model_specs(model))
    X = model.check_frame(X)
    del apps
    _, seconds = timed(lambda: model.booster.inplace_predict(X))
    return seconds, len(X)


def bare_insert(wh: Warehouse) -> tuple[float, int]:
    """executemany of the pipeline's own output rows into an empty copy of the scores table."""
    # same columns, key and index as the scores table the pipeline writes
    bare = Table("bench_bare_scores", MetaData(), *[c._copy() for c in scores_table.columns],
                 Index("ix_bench_bare_scores", "business_date", "role"))
    bare.drop(wh.engine, checkfirst=True)
    bare.create(wh.engine)
    cols = [c.name for c in scores_table.columns]
    with wh.engine.connect() as conn:  # as the warehouse stores them: driver-native values
        rows = conn.exec_driver_sql(f"SELECT {', '.join(cols)} FROM scores").fetchall()
    sql = (f"INSERT INTO bench_bare_scores ({', '.join(cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")

    def insert() -> None:
        with wh.engine.begin() as conn:
            conn.exec_driver_sql(sql, [tuple(r) for r in rows])

    _, seconds = timed(insert)
    bare.drop(wh.engine)
    return seconds, len(rows)


# -- the pipeline, its steps timed --------------------------------------------------------------

# the chunks read, gate, build and read the history; the writer gates the scores again
STEPS = {"read chunk": ((chunks, "load_applications"),),
         "applications gate + scores gate": ((chunks, "run_gate"), (scoring_run, "run_gate")),
         "features": ((chunks, "build_features"),), "loan history": ((chunks, "feature_history"),)}


@contextmanager
def step_timers() -> Iterator[dict[str, float]]:
    """Wrap module-level functions that the scoring stage calls, summing their wall time."""
    totals: dict[str, float] = defaultdict(float)
    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - t0

        saved.append((owner, attr, original))
        setattr(owner, attr, timed_call)

    for label, targets in STEPS.items():
        for owner, name in targets:
            wrap(owner, name, label)
    wrap(policy, "reason_columns", "reason codes")  # score_rows, shared with the served model
    wrap(PDModel, "predict_pd", "predict + calibrate")
    wrap(Warehouse, "upsert", "upsert scores")
    try:
        yield totals
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


def run_pipeline(home: Path, url: str, exact: bool) -> dict[str, Any]:
    """One timed forced run on a date whose scores were removed first (untimed): the work of a
    date's first scoring, which is what the bare parts do (an insert into no rows of the
    date); a forced rerun also deletes the date's earlier scores in its transaction."""
    settings = settings_for(home, url, exact_contributions=exact)
    wh = Warehouse(url)
    with wh.begin() as conn:
        delete_scores(wh, conn, DAY)
    chunks._outcomes.cache_clear()  # each run reads the loan history afresh, as a new process
    tape_cache.clear()
    with step_timers() as steps:
        result, seconds = timed(lambda: scoring_run.score_day(settings, wh, DAY, force=True))
    wh.dispose()
    return {"seconds": seconds, "result": result, "steps": dict(steps)}


# -- peak RSS in a child process ---------------------------------------------------------------

def maxrss_mb() -> int:
    """Peak RSS of this process's own memory. Linux's ``ru_maxrss`` survives ``exec``: a child
    forked from a big parent starts with the parent's RSS as its peak (seen here: 2,988 MB after
    the 1M-row part vs 2,418 MB alone). ``VmHWM`` is the high-water mark of the current address
    space only; ``ru_maxrss`` where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def child(home: Path, url: str, exact: bool, history: bool) -> None:
    """Score the day and print the process's own peak RSS (the parent's memory is not in it),
    and the peak right after the loan history was read (the first chunk reads it).
    ``history=False`` replaces the loan history by an empty one: the chunked part alone."""
    settings = settings_for(home, url, exact_contributions=exact)
    configure_environment(settings)
    marks: dict[str, Any] = {}
    read_history = chunks.feature_history

    def outcomes(wh: Warehouse, day: date, window_months: int) -> pd.DataFrame:
        marks["before_history_mb"] = maxrss_mb()
        frame = read_history(wh, day if history else date(1900, 1, 1), window_months)
        marks["after_history_mb"], marks["history_loans"] = maxrss_mb(), len(frame)
        return frame

    chunks.feature_history = outcomes
    t0 = time.perf_counter()
    result = scoring_run.score_day(settings, Warehouse(url), DAY, force=True)
    print(json.dumps({"status": result.status, "counts": result.counts,
                      "seconds": round(time.perf_counter() - t0, 1),
                      "chunk_rows": settings.scoring.chunk_rows, **marks,
                      "maxrss_mb": maxrss_mb()}))


def peak_rss(home: Path, rows: int, exact: bool, history: bool = True) -> dict[str, Any]:
    url = ensure_day(home, rows)
    cmd = [sys.executable, __file__, "--child", url, "--home", str(home)]
    cmd += ["--exact"] if exact else []
    cmd += [] if history else ["--no-history"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report -------------------------------------------------------------------------------------

def report_run(label: str, run: dict[str, Any], bare_sum: float) -> None:
    r = run["result"]
    print(f"\npipeline, {label}: {run['seconds']:.1f} s = {run['seconds'] / bare_sum:.1f}x the "
          f"bare parts  ({r.counts})")
    for step, seconds in sorted(run["steps"].items(), key=lambda kv: -kv[1]):
        print(f"  {step:<34} {seconds:8.1f} s")
    print(f"  {'stage total (score_day)':<34} {r.seconds.get('total', 0):8.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="applications on the date")
    parser.add_argument("--rss-rows", type=int, default=5_000_000,
                        help="applications of the peak-RSS run (0: skip it)")
    parser.add_argument("--rss-exact", action="store_true",
                        help="exact contributions in the peak-RSS run (default approximate: "
                             "the same arrays, minutes less)")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact-reasons run")
    parser.add_argument("--home", type=Path, default=None, help="keep model and data here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--exact", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-history", action="store_true",
                        help="peak-RSS run with an empty loan history: the chunked part alone")
    args = parser.parse_args()
    home = (args.home or Path(tempfile.mkdtemp(prefix="bench-score-"))).resolve()
    if args.child:
        child(home, args.child, args.exact, history=not args.no_history)
        return
    print(f"home {home}")
    print(f"  champion version {ensure_champion(home)}")
    if args.rows:
        bench_day(home, args.rows, exact=not args.no_exact)
    if args.rss_rows:
        rss = peak_rss(home, args.rss_rows, args.rss_exact, history=not args.no_history)
        print(f"\npeak RSS scoring {args.rss_rows:,} applications (child process, "
              f"{'exact' if args.rss_exact else 'approximate'} reasons, chunks of "
              f"{rss['chunk_rows']:,}): {rss['maxrss_mb']:,} MB in {rss['seconds']} s "
              f"({rss['status']}, {rss['counts']})")
        print(f"  loan history: {rss['history_loans']:,} loans"
              + ("" if not args.no_history else " (replaced by an empty history)")
              + f"; peak RSS {rss['before_history_mb']:,} MB before reading it, "
              f"{rss['after_history_mb']:,} MB after")


def bare_parts(home: Path, url: str) -> tuple[float, float, float, int, int]:
    wh = Warehouse(url)
    read_s = bare_read(wh)
    predict_s, n_x = bare_predict(settings_for(home, url), wh)
    insert_s, n_rows = bare_insert(wh)
    wh.dispose()
    return read_s, predict_s, insert_s, n_x, n_rows


def bench_day(home: Path, rows: int, exact: bool) -> None:
    """Bare parts before and after the pipeline runs, the faster of each kept: on a machine
    shared with others the load moves during a run (the load averages are printed)."""
    url = ensure_day(home, rows)
    print(f"load average at start {os.getloadavg()[0]:.1f}")
    # the bare insert copies the pipeline's rows: make sure a first run wrote them
    scoring_run.score_day(settings_for(home, url, exact_contributions=False), Warehouse(url), DAY)
    before = bare_parts(home, url)
    runs = {"approximate reasons": run_pipeline(home, url, exact=False)}
    if exact:
        runs["exact reasons"] = run_pipeline(home, url, exact=True)
    after = bare_parts(home, url)
    read_s, predict_s, insert_s = (min(a, b) for a, b in zip(before[:3], after[:3], strict=True))
    n_x, n_rows = after[3:]
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    bare_sum = read_s + predict_s + insert_s
    print(f"\n{rows:,} applications on {DAY}, {n_rows:,} score rows written")
    print(f"bare read_sql         {read_s:8.1f} s")
    print(f"bare inplace_predict  {predict_s:8.1f} s  ({n_x:,} x features)")
    print(f"bare executemany      {insert_s:8.1f} s")
    print(f"sum of bare parts     {bare_sum:8.1f} s")
    decisions = next(iter(runs.values()))["result"].decisions
    need = decisions.get("review", 0) + decisions.get("decline", 0)
    print(f"declined or referred (reason codes owed): {need:,} = "
          f"{need / max(sum(decisions.values()), 1):.1%}")
    for label, run in runs.items():
        report_run(label, run, bare_sum)
    if exact:
        extra = runs["exact reasons"]["steps"]["reason codes"]
        print(f"\nexact contributions: {1000 * extra / max(need, 1):.3f} ms per declined or "
              "referred application")
    assert np.isfinite(bare_sum)


if __name__ == "__main__":
    main()
