"""A scoring backfill of ``--days`` business dates at ``--per-day`` applications each (default
30 x 50,000) through the Prefect flow ``scoring-backfill``, on SQLite and, when reachable, on
PostgreSQL: wall time and peak RSS of the process that runs it, then exact counts, then a rerun
of the same range (every date already completed: skipped) with the counts unchanged.

    .venv/bin/python bench/bench_backfill.py                          # 30 x 50k, both warehouses
    .venv/bin/python bench/bench_backfill.py --days 3 --per-day 5000 --home /tmp/bench-backfill
    .venv/bin/python bench/bench_backfill.py --warehouse sqlite       # PostgreSQL skipped

Setup (not timed): the champion of ``bench_score.ensure_champion`` (trained once per ``--home``
on the test fixture's 40k book), a Prefect home under ``--home`` warmed by one trivial flow run
(its first run migrates Prefect's database: 13-19 s that a lender pays once, not per backfill),
and per warehouse a fresh database: a SQLite file under ``--home``, or a PostgreSQL database
created at ``--pg-url``'s server and dropped at the end. It holds the training book as the loan
history (tape to 2025-06-30, so dealer features have matured loans) and, on each date from
``--start`` (2025-07-01), ``--per-day`` simulated applications and the loans booked from them.
0.2% of each date's applications carry an applicant age of 15, which the applications gate
quarantines: the count check then tests real arithmetic, not 0 = 0.

Timed: ``flows.scoring.scoring_backfill(start, end)`` exactly as ``creditflow backfill`` runs it
(one flow run on Prefect's ephemeral API, ``score_day`` once per date, settings from the
environment and ``creditflow.toml``: exact reason codes, chunks of 100k), in a child process
that prints its own wall time and peak RSS (``VmHWM``, see ``bench_score.maxrss_mb``). The wall
time is split into imports, the flow call and, inside it, the sum of the dates' ``score_day``
totals; the flow call minus that sum is Prefect's share (ephemeral API start, flow run, logs,
the artifact).

Checked, exactly, after the run and again after the rerun (exit status 1 if any fails): per
date, champion score rows == applications - quarantined rows of the date's scoring batch
(``score-<date>``), quarantined for applicant_age == the rows made invalid (the simulator adds a
few of its own, e.g. a PTI above max_pti), and both equal what the flow reported;
``run_manifest`` holds one completed score run per date and ``run_locks`` one completed row;
no (application_id, model_version, role) occurs twice; the rerun skips every date and changes
no count.

Measured here (2 cores, November 2026; defaults 30 x 50,000, exact reason codes), second run,
all checks passed (load 1.2-1.7 at start): SQLite 135.8 s wall for 1,496,914 scores (11,000
rows/s, 4.2 s of score_day per date, Prefect 10 s), peak RSS 689 MB (432 MB after imports);
PostgreSQL 177.1 s (8,450 rows/s), 734 MB; reruns skipped all 30 dates in 11.0 s and 11.1 s
with counts unchanged. A first run (SQLite 174 s, PostgreSQL 176 s, 695 / 736 MB) failed only
its own check "quarantined == rows made invalid": the simulator yields ~3 rows a date with a PTI
above max_pti (2025-07-01: 96 = 93 applicant_age + 3 pti); the check now counts its own rule.

Issue 23 session (December 2026, box shared with two other engineers, load average 3.6-7.1),
defaults, all checks passed on both runs. Before (commit d6631cc, run from a worktree): SQLite
310.3 s (4,824 rows/s, score_day 8.60 s a date), PostgreSQL 452.4 s (3,309 rows/s, 14.66 s a
date), load 5.5 and 4.9 at the start. After (the columnar read, the (business_date,
application_id) index, the slim scores gate, the range prepared once): SQLite 233.5 s (6,410
rows/s, 7.03 s a date, load 3.6), PostgreSQL 198.4 s (7,545 rows/s, 5.82 s a date, load 7.1);
peak RSS 737 / 721 MB; reruns 20.9 / 21.1 s. Most of a date is now XGBoost's exact
contributions for its ~15,000 declined or referred applications (0.19-0.22 ms each on this box
in bench_score's runs of the same hour: about 3 s of the 5.8-7.0 s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_score import TRAIN_BOOK, ensure_champion, home_salt, maxrss_mb, settings_for
from sqlalchemy import create_engine, text

from pipelines.core.home import configure_environment
from pipelines.core.settings import Settings
from pipelines.scoring.chunks import day_batch_id
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import Book, simulate_book
from pipelines.warehouse.engine import Warehouse

START = date(2025, 7, 1)  # the day after the history's last date and tape month
BAD_SHARE = 0.002  # applications per date whose age fails the applications gate
BAD_AGE = 15.0
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]


def business_dates(start: date, days: int) -> list[date]:
    """Consecutive dates, as ``flows.scoring.date_range`` walks a backfill's range."""
    return [start + timedelta(days=i) for i in range(days)]


# -- setup (untimed) ----------------------------------------------------------------------------

def day_book(day: date, rows: int, seed: int) -> tuple[Book, int]:
    """``rows`` applications on ``day``, ids unique across dates (each simulated book numbers
    its own from zero), ``BAD_SHARE`` of them with an age the gate quarantines."""
    book = simulate_book(rows, day, day, seed=seed)
    prefix = f"D{day:%Y%m%d}"
    book.applications["application_id"] = prefix + book.applications["application_id"]
    book.loans["application_id"] = prefix + book.loans["application_id"]
    book.loans["loan_id"] = prefix + book.loans["loan_id"]
    book.repayments["loan_id"] = prefix + book.repayments["loan_id"]
    bad = np.random.default_rng(seed).random(rows) < BAD_SHARE
    book.applications.loc[bad, "applicant_age"] = BAD_AGE
    return book, int(bad.sum())


def fill_warehouse(url: str, dates: list[date], per_day: int, seed: int) -> dict[date, int]:
    """Load the history and every date's applications; returns the invalid rows per date."""
    t0 = time.perf_counter()
    wh = Warehouse(url)
    wh.init()
    history = simulate_book(TRAIN_BOOK["n_applications"], TRAIN_BOOK["start"],
                            TRAIN_BOOK["end"], seed=seed)
    load_book(wh, history, "bench-history")
    t_days = time.perf_counter()
    invalid = {}
    for i, day in enumerate(dates):
        book, invalid[day] = day_book(day, per_day, seed=1000 + i)
        load_book(wh, book, f"bench-day-{day.isoformat()}")
    wh.dispose()
    print(f"  setup: history of {len(history.applications):,} applications, "
          f"{len(history.loans):,} loans, {len(history.repayments):,} tape rows in "
          f"{t_days - t0:.0f} s; {len(dates)} x {per_day:,} applications (and their loans) "
          f"in {time.perf_counter() - t_days:.0f} s")
    return invalid


def fresh_sqlite(home: Path) -> str:
    path = home / "backfill.db"
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def pg_unreachable(admin_url: str) -> str | None:
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: not reachable, and say why
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the admin URL's server, dropped afterwards."""
    name = f"creditflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the timed run, in a child process ----------------------------------------------------------

def child_backfill(start: date, end: date) -> None:
    """Run the flow as the CLI does (settings from the environment) and print one JSON line."""
    t0 = time.perf_counter()
    configure_environment(Settings())  # Prefect's home must be set before Prefect is imported
    from flows.scoring import scoring_backfill

    t_flow = time.perf_counter()
    baseline_mb = maxrss_mb()
    days = scoring_backfill(start, end)
    done = time.perf_counter()
    print(json.dumps({
        "import_s": round(t_flow - t0, 2), "flow_s": round(done - t_flow, 2),
        "wall_s": round(done - t0, 2),
        "stage_s": round(sum(d["seconds"].get("total", 0.0) for d in days), 2),
        "baseline_mb": baseline_mb, "maxrss_mb": maxrss_mb(),
        "days": {str(d["business_date"]): {"status": d["status"], **d["counts"]}
                 for d in days}}))


def child_warm() -> None:
    """One trivial flow run: Prefect migrates a new home's database on its first run."""
    configure_environment(Settings())
    from prefect import flow

    @flow(name="bench-backfill-warm-up")
    def warm_up() -> int:
        return 1

    warm_up()


def run_child(home: Path, url: str, *args: str) -> dict[str, Any]:
    env = os.environ | {"CREDITFLOW_HOME": str(home), "CREDITFLOW_WAREHOUSE_URL": url,
                        "CREDITFLOW_SECURITY__ID_SALT": home_salt(home)}
    out = subprocess.run([sys.executable, __file__, "--home", str(home), *args], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"child process failed ({out.returncode}):\n{out.stderr[-4000:]}")
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


# -- exact counts -------------------------------------------------------------------------------

def per_date(conn: Any, sql: str, params: dict[str, Any]) -> dict[str, int]:
    """{ISO date: count} of a two-column query; dates come back as str on SQLite."""
    return {pd.Timestamp(k).date().isoformat(): int(v)
            for k, v in conn.execute(text(sql), params).all()}


def warehouse_counts(url: str, dates: list[date]) -> dict[str, Any]:
    p = {"a": dates[0].isoformat(), "b": dates[-1].isoformat()}
    in_range = "business_date BETWEEN :a AND :b"
    if url.startswith("postgresql"):
        in_range = "business_date BETWEEN CAST(:a AS date) AND CAST(:b AS date)"
    wh = Warehouse(url)
    with wh.engine.connect() as conn:
        out = {
            "applications": per_date(conn, "SELECT business_date, COUNT(*) FROM applications "
                                     f"WHERE {in_range} GROUP BY business_date", p),
            "scores": per_date(conn, "SELECT business_date, COUNT(*) FROM scores WHERE "
                               f"role = 'champion' AND {in_range} GROUP BY business_date", p),
            "quarantined": dict(conn.execute(text(
                "SELECT batch_id, COUNT(DISTINCT row_number) FROM quarantine WHERE batch_id "
                "LIKE 'score-%' GROUP BY batch_id")).all()),
            # the rows this bench made invalid; the simulator itself yields a few more (a PTI
            # above max_pti: 3 in 50,000), quarantined under their own rule
            "quarantined_age": dict(conn.execute(text(
                "SELECT batch_id, COUNT(DISTINCT row_number) FROM quarantine WHERE batch_id "
                "LIKE 'score-%' AND column_name = 'applicant_age' GROUP BY batch_id")).all()),
            "manifest_completed": conn.execute(text(
                f"SELECT COUNT(*) FROM run_manifest WHERE kind = 'score' AND status = "
                f"'completed' AND {in_range}"), p).scalar_one(),
            "manifest_rows": conn.execute(text("SELECT COUNT(*) FROM run_manifest WHERE "
                                               "kind = 'score'")).scalar_one(),
            "locks_completed": conn.execute(text(
                f"SELECT COUNT(*) FROM run_locks WHERE kind = 'score' AND status = "
                f"'completed' AND {in_range}"), p).scalar_one(),
            "duplicate_keys": conn.execute(text(
                "SELECT COUNT(*) FROM (SELECT 1 FROM scores GROUP BY application_id, "
                "model_version, role HAVING COUNT(*) > 1) AS d")).scalar_one(),
            "score_rows": conn.execute(text("SELECT COUNT(*) FROM scores")).scalar_one(),
        }
    wh.dispose()
    for key in ("quarantined", "quarantined_age"):
        batches = out.pop(key)
        out[key] = {d.isoformat(): int(batches.get(day_batch_id(d), 0)) for d in dates}
    return out


def check_counts(c: dict[str, Any], dates: list[date], invalid: dict[date, int],
                 reported: dict[str, Any]) -> list[str]:
    """Every failed check, as a line for people; prints the per-date table."""
    failures = []
    print(f"  {'date':<10} {'applications':>12} {'quarantined':>11} {'scores':>8}  "
          f"{'flow: scored/quarantined':>24}")
    for day in dates:
        d = day.isoformat()
        apps, quar, scores = (c["applications"].get(d, 0), c["quarantined"].get(d, 0),
                              c["scores"].get(d, 0))
        flow = reported.get(d, {})
        print(f"  {d:<10} {apps:>12,} {quar:>11,} {scores:>8,}  "
              f"{flow.get('scored', '-'):>15}/{flow.get('quarantined', '-')}")
        if scores != apps - quar:
            failures.append(f"{d}: {scores} scores != {apps} applications - {quar} quarantined")
        if c["quarantined_age"].get(d, 0) != invalid[day]:
            failures.append(f"{d}: {c['quarantined_age'].get(d, 0)} quarantined for "
                            f"applicant_age, {invalid[day]} rows were made invalid")
        if flow and (flow.get("scored"), flow.get("quarantined")) != (scores, quar):
            failures.append(f"{d}: the flow reported {flow}, the warehouse holds {scores} "
                            f"scores and {quar} quarantined")
    for key in ("manifest_completed", "locks_completed"):
        if c[key] != len(dates):
            failures.append(f"{key} = {c[key]}, expected {len(dates)}")
    if c["duplicate_keys"]:
        failures.append(f"{c['duplicate_keys']} duplicate (application_id, model_version, role)")
    print(f"  run_manifest completed {c['manifest_completed']} of {len(dates)} dates, run_locks "
          f"completed {c['locks_completed']}, duplicate keys {c['duplicate_keys']}, "
          f"score rows {c['score_rows']:,}")
    return failures


# -- one warehouse ------------------------------------------------------------------------------

def bench_warehouse(label: str, home: Path, url: str, dates: list[date], per_day: int,
                    seed: int) -> tuple[dict[str, Any], list[str]]:
    print(f"\n== {label}")
    invalid = fill_warehouse(url, dates, per_day, seed)
    span = [dates[0].isoformat(), dates[-1].isoformat()]
    print(f"  load average at start {os.getloadavg()[0]:.1f}")
    run = run_child(home, url, "--child", *span)
    print(f"  timed: Prefect flow scoring-backfill, one flow run, score_day per date: "
          f"{run['wall_s']:.1f} s wall = imports {run['import_s']:.1f} + flow call "
          f"{run['flow_s']:.1f} (score_day {run['stage_s']:.1f}, Prefect "
          f"{run['flow_s'] - run['stage_s']:.1f}); peak RSS {run['maxrss_mb']:,} MB "
          f"({run['baseline_mb']:,} MB after imports)")
    first = warehouse_counts(url, dates)
    failures = check_counts(first, dates, invalid, run["days"])
    statuses = {d["status"] for d in run["days"].values()}
    if statuses != {"completed"} or len(run["days"]) != len(dates):
        failures.append(f"first run: statuses {sorted(statuses)} over {len(run['days'])} dates")

    rerun = run_child(home, url, "--child", *span)
    again = warehouse_counts(url, dates)
    skipped = sum(d["status"] == "skipped" for d in rerun["days"].values())
    print(f"  rerun: {skipped} of {len(dates)} dates skipped in {rerun['wall_s']:.1f} s wall "
          f"(flow call {rerun['flow_s']:.1f} s); counts "
          f"{'unchanged' if again == first else 'CHANGED'}")
    if skipped != len(dates):
        failures.append(f"rerun: {skipped} of {len(dates)} dates skipped")
    if again != first:
        changed = sorted(k for k in first if first[k] != again[k])
        failures.append(f"rerun changed the counts of {changed}")
    scored = sum(first["scores"].values())
    return {"warehouse": label, "scored": scored, "wall_s": run["wall_s"],
            "flow_s": run["flow_s"], "stage_s": run["stage_s"], "maxrss_mb": run["maxrss_mb"],
            "rerun_s": rerun["wall_s"], "days": len(dates)}, failures


def summary_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'warehouse':<11} {'scored':>10} {'wall s':>8} {'rows/s':>8} {'s/day':>7} "
          f"{'stage s/day':>11} {'peak RSS MB':>11} {'rerun s':>8}")
    for r in rows:
        print(f"{r['warehouse']:<11} {r['scored']:>10,} {r['wall_s']:>8.1f} "
              f"{r['scored'] / r['wall_s']:>8,.0f} {r['wall_s'] / r['days']:>7.2f} "
              f"{r['stage_s'] / r['days']:>11.2f} {r['maxrss_mb']:>11,} {r['rerun_s']:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="business dates backfilled")
    parser.add_argument("--per-day", type=int, default=50_000, help="applications per date")
    parser.add_argument("--start", type=date.fromisoformat, default=START,
                        help="first date (after 2025-06-30, the history's end)")
    parser.add_argument("--warehouse", choices=("both", "sqlite", "postgresql"), default="both",
                        help="both: PostgreSQL too when reachable")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL,
                        help="a PostgreSQL URL whose user may create and drop databases")
    parser.add_argument("--home", type=Path, default=None, help="keep the champion here")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    home = (args.home or Path(tempfile.mkdtemp(prefix="bench-backfill-"))).resolve()
    if args.child:
        child_backfill(*(date.fromisoformat(d) for d in args.child))
        return
    if args.warm:
        child_warm()
        return
    dates = business_dates(args.start, args.days)
    if dates[0] <= TRAIN_BOOK["end"]:
        sys.exit(f"--start must be after {TRAIN_BOOK['end']}: the history's dates are not "
                 "backfilled")
    print(f"home {home}\n  champion version {ensure_champion(home)}")
    seed = settings_for(home).seed
    t0 = time.perf_counter()
    run_child(home, "sqlite:///:memory:", "--warm")
    print(f"  Prefect home warmed in {time.perf_counter() - t0:.0f} s")
    print(f"{len(dates)} dates {dates[0]}..{dates[-1]} x {args.per_day:,} applications")
    rows, failures = [], []
    if args.warehouse in ("both", "sqlite"):
        row, failed = bench_warehouse("SQLite", home, fresh_sqlite(home), dates, args.per_day,
                                      seed)
        rows.append(row)
        failures += [f"SQLite: {f}" for f in failed]
    if args.warehouse in ("both", "postgresql"):
        reason = pg_unreachable(args.pg_url)
        if reason is None:
            with pg_database(args.pg_url) as url:
                row, failed = bench_warehouse("PostgreSQL", home, url, dates, args.per_day, seed)
            rows.append(row)
            failures += [f"PostgreSQL: {f}" for f in failed]
        elif args.warehouse == "postgresql":
            failures.append(f"PostgreSQL not reachable: {reason}")
        else:
            print(f"\nPostgreSQL skipped: not reachable ({reason})")
    summary_table(rows)
    for failure in failures:
        print(f"FAILED {failure}")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
