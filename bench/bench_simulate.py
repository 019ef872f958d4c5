"""Throughput of the simulator: applications (with ground truth and booking) and the repayment
tape of the booked loans, timed together and apart.

    .venv/bin/python bench/bench_simulate.py --rows 1000000
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from pipelines.simulation import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="applications to generate")
    parser.add_argument("--scenario", default="none", choices=sorted(simulate.SCENARIOS))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    # Time the tape on its own by wrapping the private stage the public call goes through.
    tape_seconds = 0.0
    build_tape = simulate._tape

    def timed_tape(*a, **kw):  # type: ignore[no-untyped-def]
        nonlocal tape_seconds
        t0 = time.perf_counter()
        frame = build_tape(*a, **kw)
        tape_seconds += time.perf_counter() - t0
        return frame

    simulate._tape = timed_tape
    t0 = time.perf_counter()
    book = simulate.simulate_book(args.rows, date(2022, 1, 1), date(2025, 6, 30), seed=args.seed,
                                  scenario=args.scenario)
    total = time.perf_counter() - t0
    simulate._tape = build_tape

    apps_seconds = total - tape_seconds
    print(f"applications: {len(book.applications):,} in {apps_seconds:.2f} s "
          f"({len(book.applications) / apps_seconds:,.0f} rows/s)")
    print(f"loans:        {len(book.loans):,} booked "
          f"({len(book.loans) / len(book.applications):.1%})")
    print(f"tape:         {len(book.repayments):,} rows in {tape_seconds:.2f} s "
          f"({len(book.repayments) / max(tape_seconds, 1e-9):,.0f} rows/s)")
    print(f"total:        {total:.2f} s for {args.rows:,} applications "
          f"({args.rows / total:,.0f} applications/s incl. tape)")
    print(f"bad_12m among booked: {book.truth['bad_12m'].mean():.4f}")


if __name__ == "__main__":
    main()
