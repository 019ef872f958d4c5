"""The index of the risk team's pages (``reports/index.html``): every periodic risk report,
every Evidently drift report, the Evidently workspace and how to open it, and the GX Data Docs
pages, each linked relative to the index so the folder can be moved or served as it is."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pipelines.core.settings import Settings
from pipelines.monitoring.html_page import Section, esc, page, table
from pipelines.monitoring.pages import index_path, risk_dir
from pipelines.monitoring.workspace import project_id, workspace_dir

DATA_DOCS_SHOWN = 200  # newest pages listed; the folder holds them all


def write_index(settings: Settings) -> Path:
    """Write the index from what the reports folder holds now; its path."""
    path = index_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    sections = [_risk_reports(settings), _evidently(settings), _data_docs(settings),
                _tools(settings)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page("creditflow: the risk team's pages", f"home {settings.home}",
                        sections, None), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _href(path: Path, settings: Settings) -> str:
    return Path(os.path.relpath(path, index_path(settings).parent)).as_posix()


def _link(path: Path, text: str, settings: Settings) -> str:
    return f'<a href="{esc(_href(path, settings))}">{esc(text)}</a>'


def _risk_reports(settings: Settings) -> Section:
    pages = sorted(risk_dir(settings).glob("*.html"), key=lambda p: p.stem, reverse=True)
    rows = [{"period": p.stem.split("-", 1)[0], "report": p.stem.split("-", 1)[1],
             "written": pd.Timestamp(p.stat().st_mtime, unit="s").strftime("%Y-%m-%d %H:%M")}
            for p in pages]
    frame = pd.DataFrame(rows, columns=["period", "report", "written"])
    links = [_link(p, p.stem.split("-", 1)[1], settings) for p in pages]
    return Section("risk-reports", "Periodic risk reports",
                   _linked_table(frame, "report", links,
                                 "No risk report yet: run the risk-report flow "
                                 "(creditflow report)."))


def _linked_table(frame: pd.DataFrame, column: str, links: list[str], empty: str) -> str:
    """``table`` with one column's cells replaced by links (built here, already escaped)."""
    marker = "\x00{}\x00"
    shown = frame.copy()
    shown[column] = [marker.format(i) for i in range(len(frame))]
    html = table(shown, empty=empty)
    for i, link in enumerate(links):
        html = html.replace(esc(marker.format(i)), link, 1)
    return html


def _evidently(settings: Settings) -> Section:
    folder = workspace_dir(settings.reports_dir)
    project = project_id(folder) if folder.is_dir() else None
    snapshots = len(list((folder / project / "snapshots").glob("*.json"))) if project else 0
    command = (f".venv/bin/evidently ui --workspace {folder} --host 127.0.0.1 --port 8000"
               "")
    body = (f"<p>The Evidently workspace holds {snapshots} daily snapshot(s) of the champion's "
            "applications against its training reference, with a dashboard of panels over "
            f"time. Open it with</p><pre>{esc(command)}</pre>"
            f"<p>then http://127.0.0.1:8000 (project <b>creditflow</b>).</p>")
    drift = sorted((settings.reports_dir / "drift").glob("*.html"), reverse=True)
    frame = pd.DataFrame({"business date": [p.stem for p in drift]})
    body += "<h3>Drift reports (days the drift screen reached the shift band)</h3>"
    body += _linked_table(frame, "business date", [_link(p, p.stem, settings) for p in drift],
                          "No drift report yet.")
    return Section("evidently", "Evidently: drift", body)


def _data_docs(settings: Settings) -> Section:
    root = settings.reports_dir / "validation" / "validations"
    pages = sorted(root.glob("*/*/*/*.html"), key=lambda p: p.parent.name, reverse=True)
    shown = pages[:DATA_DOCS_SHOWN]
    frame = pd.DataFrame({"batch": [p.parents[1].name for p in shown],
                          "suite": [p.parents[2].name for p in shown],
                          "validated": [p.parent.name for p in shown]})
    note = (f'<p class="note">The newest {DATA_DOCS_SHOWN} of {len(pages)} pages.</p>'
            if len(pages) > DATA_DOCS_SHOWN else "")
    return Section("data-docs", "Data validation (GX Data Docs)", note + _linked_table(
        frame, "batch", [_link(p, p.parents[1].name, settings) for p in shown],
        "No Data Docs page yet."))


def _tools(settings: Settings) -> Section:
    mlflow = (f".venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri} "
              "--host 127.0.0.1")
    return Section("tools", "Runs, models and promotion records", f"<p>MLflow keeps every "
                   "training run, model version, promotion decision and daily monitoring run "
                   f"(its tag <code>creditflow.page</code> names the week's page):</p>"
                   f"<pre>{esc(mlflow)}</pre>")
