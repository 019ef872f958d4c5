"""Time the mapping's formats on one column of 1M values each, against bare pandas reading the
same values already written plainly (``pd.to_numeric`` on ``60000.00``, ``pd.to_datetime`` on
ISO dates), which is what ingest costs without a format.

    .venv/bin/python bench/bench_formats.py [--rows 1000000] [--repeat 3]

Dates: an application date over ten years (3,650 distinct values) and a timestamp to the
second (every value distinct), both with two-digit years.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from timing import best_of  # bench/timing.py, beside this script

from pipelines.ingest.formats import DateFormat, NumberFormat, WordsFormat


def columns(n: int) -> dict[str, tuple[pd.Series, pd.Series]]:
    """name -> (the lender's text, the same values written plainly)."""
    rng = np.random.default_rng(7)
    amount = pd.Series(rng.uniform(1_000, 90_000, n).round(2))
    rate = pd.Series(rng.uniform(0.02, 0.25, n).round(4))
    days = pd.Timestamp("1995-01-01") + pd.to_timedelta(rng.integers(0, 3650, n), unit="D")
    stamps = pd.Timestamp("1995-01-01") + pd.to_timedelta(rng.permutation(n) * 37, unit="s")
    flags = pd.Series(rng.random(n) < 0.3)
    return {
        "number $60,000.00": (amount.map("${:,.2f}".format), amount.map("{:.2f}".format)),
        "percent 7.5%": ((rate * 100).round(2).map("{:g}%".format), rate.astype(str)),
        "boolean Y/N": (pd.Series(np.where(flags, "Y", "N")),
                        flags.astype(int).astype(str)),
        "date %d-%b-%y": (pd.Series(days.strftime("%d-%b-%y")),
                          pd.Series(days.strftime("%Y-%m-%d"))),
        "timestamp %d-%b-%y %H:%M:%S": (pd.Series(stamps.strftime("%d-%b-%y %H:%M:%S")),
                                        pd.Series(stamps.strftime("%Y-%m-%d %H:%M:%S"))),
    }


FORMATS = {
    "number $60,000.00": NumberFormat(currency="$", thousands=","),
    "percent 7.5%": NumberFormat(percent=True),
    "boolean Y/N": WordsFormat("boolean", ("Y",), ("N",)),
    "date %d-%b-%y": DateFormat("%d-%b-%y"),
    "timestamp %d-%b-%y %H:%M:%S": DateFormat("%d-%b-%y %H:%M:%S"),
}


def bare(name: str, plain: pd.Series) -> object:
    if name.startswith(("date", "timestamp")):
        return pd.to_datetime(plain, format="ISO8601", errors="coerce")
    return pd.to_numeric(plain, errors="coerce")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name, (text, plain) in columns(args.rows).items():
        fmt = FORMATS[name]
        unread = fmt.parse(text.astype(object))[1]
        if unread.any():  # the timing would be of a column that is not all readable
            raise SystemExit(f"{name}: {int(unread.sum())} generated values did not read")
        ours = best_of(lambda f=fmt, t=text: f.parse(t), args.repeat)
        base = best_of(lambda n=name, p=plain: bare(n, p), args.repeat)
        print(f"{name:30s} {ours:6.3f} s   bare pandas on plain values {base:6.3f} s   "
              f"({args.rows:,} values)")


if __name__ == "__main__":
    main()
