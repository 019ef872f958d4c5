"""Stage: generate the synthetic book, keep it as Parquet files and load it into the warehouse."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import Progress

from pipelines.core.settings import Settings
from pipelines.core.stage_settings import SimulateSettings
from pipelines.ingest.load import write_frame
from pipelines.simulation.simulate import Book, simulate_book
from pipelines.warehouse.book import loans_ever_90_plus, table_summary
from pipelines.warehouse.engine import Warehouse

TABLES = ("applications", "loans", "repayments")


def generate(sim: SimulateSettings, seed: int) -> Book:
    return simulate_book(sim.n_applications, sim.start, sim.end, seed=seed,
                         default_rate=sim.default_rate, n_dealers=sim.n_dealers,
                         scenario=sim.scenario, scenario_start=sim.scenario_start)


def book_batch_id(sim: SimulateSettings, seed: int) -> str:
    return f"sim-{seed}-{sim.scenario}-{sim.n_applications}"


def load_book(wh: Warehouse, book: Book, batch_id: str, chunk_rows: int = 50_000,
              progress: bool = False) -> dict[str, int]:
    """Write the book's frames in one transaction: all of it or none of it."""
    frames = {name: getattr(book, name).assign(batch_id=batch_id) for name in TABLES}
    counts: dict[str, int] = {}
    with Progress(transient=True, disable=not progress) as bar, wh.begin() as conn:
        task = bar.add_task("loading warehouse", total=sum(len(f) for f in frames.values()))
        for name, frame in frames.items():
            for start in range(0, len(frame), chunk_rows):
                part = frame.iloc[start:start + chunk_rows]
                write_frame(wh, part, name, conn=conn, chunk_rows=chunk_rows)
                bar.advance(task, len(part))
            counts[name] = len(frame)
    return counts


def simulate_and_load(settings: Settings, sim: SimulateSettings, seed: int, load: bool = True,
                      progress: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    book = generate(sim, seed)
    generated_s = time.perf_counter() - t0
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in TABLES:
        path = settings.data_dir / f"{name}.parquet"
        getattr(book, name).to_parquet(path, index=False)
        paths[name] = str(path)
    summary: dict[str, Any] = {
        "seed": seed, "scenario": sim.scenario, "rows": {n: len(getattr(book, n)) for n in TABLES},
        "generate_seconds": round(generated_s, 2), "files": paths,
        "booked_bad_rate": round(float(book.truth.loc[book.truth["booked"], "bad_12m"].mean()),
                                 4),
    }
    if load:
        wh = Warehouse.from_settings(settings)
        wh.init()
        t1 = time.perf_counter()
        summary["loaded"] = load_book(wh, book, book_batch_id(sim, seed),
                                      chunk_rows=settings.ingest.chunk_rows, progress=progress)
        summary["load_seconds"] = round(time.perf_counter() - t1, 2)
    return summary


def warehouse_summary(wh: Warehouse) -> dict[str, Any]:
    """Row counts and date ranges: what a newcomer checks first."""
    out: dict[str, Any] = {"warehouse": repr(wh), **table_summary(wh)}
    if out["repayments"]:
        out["loans_ever_90_plus"] = loans_ever_90_plus(wh)
    return out
