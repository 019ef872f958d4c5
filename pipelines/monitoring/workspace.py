"""The Evidently workspace in the home: one project, one snapshot per monitored business date,
and the project's dashboard of panels over time; on loopback,
``evidently ui --workspace <this folder> --host 127.0.0.1`` opens it.

A day's snapshot is an Evidently 0.7 ``Report`` run on the same seeded samples the drift report
uses: the drifted share over the monitored features (``DriftedColumnsCount``), per-feature drift
of the champion's most important features (``ValueDrift``), and our own figures of the day
(score PSI on every row, estimated and realised AUC, approval rate) carried as
``CreditflowFigure`` metrics, single values Evidently stores and plots like its own. The
snapshot's timestamp is the business date (the dashboard's time axis), its tags name the
champion version, its metadata the business date. The full ``DataDriftPreset`` is left to the
drift HTML report: its per-column plots cost seconds a day, these metrics under one.

Rerunning a date replaces its snapshot (``snapshots.json`` beside the project maps dates to
snapshot ids).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

PROJECT_NAME = "creditflow"
PROJECT_DESCRIPTION = ("Daily drift of the champion's applications against its training "
                       "reference, with creditflow's own figures of the day")
_INDEX = "snapshots.json"


def workspace_dir(reports_dir: Path) -> Path:
    return reports_dir / "workspace"


def day_snapshot(reference: pd.DataFrame, current: pd.DataFrame, monitored: Sequence[str],
                 top_features: Sequence[str], figures: Mapping[str, float | None],
                 business_date: date, champion_version: str, sample_rows: int,
                 drift_share: float, method: str | None, seed: int) -> Any:
    """The day's Evidently snapshot (not yet stored). ``figures`` with no value (None, NaN)
    are left out rather than stored as a gap Evidently cannot plot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    from pipelines.monitoring.drift import evidently_inputs
    from pipelines.monitoring.figure_metric import figure_metric

    ref, cur, numeric, categorical = evidently_inputs(reference, current, monitored,
                                                      sample_rows, seed)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    metrics: list[Any] = [DriftedColumnsCount(columns=list(monitored), drift_share=drift_share,
                                              method=method)]
    metrics += [ValueDrift(column=f, method=method) for f in top_features if f in monitored]
    metrics += [figure_metric(k, v) for k, v in figures.items()
                if v is not None and math.isfinite(v)]
    label = business_date.isoformat()
    return Report(metrics).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
        timestamp=datetime(business_date.year, business_date.month, business_date.day),
        tags=[f"champion_v{champion_version}"],
        metadata={"business_date": label, "champion_version": str(champion_version)},
        name=f"monitor-{label}")


def record_snapshot(folder: Path, business_date: date, snapshot: Any,
                    top_features: Sequence[str]) -> Path:
    """Store the day's snapshot in the workspace at ``folder`` (created with its project and
    dashboard on first use), replacing the date's earlier one; the snapshot file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    ws = _file_workspace_class()(str(folder))
    project = _project(ws)
    index = _read_index(folder)
    label = business_date.isoformat()
    previous = index.get(label)
    if previous and previous in {str(s) for s in ws.list_runs(project.id)}:
        ws.delete_run(project.id, previous)
    ref = ws.add_run(project.id, snapshot)
    index[label] = str(ref.id)
    _write_index(folder, index)
    _ensure_dashboard(ws, project, list(top_features))
    return folder / str(project.id) / "snapshots" / f"{ref.id}.json"


@lru_cache(maxsize=1)
def _file_workspace_class() -> type:
    """Evidently's local ``Workspace`` without its datasets service: ``Workspace.__init__``
    also loads that service's state, which parses every stored snapshot (0.05 s at 8
    snapshots, 0.4-0.6 s at 21 on the demo, growing by one a day) for a datasets API never
    used here. Projects, runs and the dashboard go through ``state`` (plain file reads and
    writes) and ``path`` alone, so the files written are the same; any other use fails loudly
    (no ``datasets`` attribute) rather than quietly."""
    from evidently.ui.storage.local.base import LocalState
    from evidently.ui.workspace import Workspace

    class FileWorkspace(Workspace):
        def __init__(self, path: str) -> None:  # Workspace.__init__ skipped on purpose
            self.path = path
            self.state = LocalState(path)

    return FileWorkspace


def project_id(folder: Path) -> str | None:
    """The id of the creditflow project in the workspace at ``folder`` (None if none yet)."""
    for meta in sorted(folder.glob("*/metadata.json")):
        if json.loads(meta.read_text()).get("name") == PROJECT_NAME:
            return meta.parent.name
    return None


def _project(ws: Any) -> Any:
    found = ws.search_project(PROJECT_NAME)
    if found:
        return found[0]
    project = ws.create_project(PROJECT_NAME, description=PROJECT_DESCRIPTION)
    return project


def _read_index(folder: Path) -> dict[str, str]:
    path = folder / _INDEX
    return json.loads(path.read_text()) if path.exists() else {}


def _write_index(folder: Path, index: dict[str, str]) -> None:
    tmp = folder / f".{_INDEX}.{os.getpid()}"
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp, folder / _INDEX)


# ---------------------------------------------------------------------------------------------
# the dashboard


def dashboard_panels(top_features: list[str]) -> list[Any]:
    """The project's panels: drifted share, per-feature drift of the top features, and our
    figures over time (one line each)."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel, text_panel

    figure = "CreditflowFigure"
    panels = [
        text_panel("creditflow: the champion's applications against its training reference",
                   "One snapshot per business date; tags name the champion version."),
        line_plot_panel("Share of drifted features", [PanelMetric(
            legend="drifted share", metric="DriftedColumnsCount",
            metric_labels={"value_type": "share"})], size="half"),
        line_plot_panel("Score PSI", [PanelMetric(
            legend="score PSI", metric=figure, metric_labels={"figure": "score_psi"})],
            size="half"),
        line_plot_panel("Estimated and realised AUC", [
            PanelMetric(legend="estimated AUC", metric=figure,
                        metric_labels={"figure": "estimated_auc"}),
            PanelMetric(legend="realised AUC", metric=figure,
                        metric_labels={"figure": "realised_auc"})], size="half"),
        line_plot_panel("Approval rate", [PanelMetric(
            legend="approval rate", metric=figure, metric_labels={"figure": "approval_rate"})],
            size="half"),
    ]
    if top_features:
        panels.append(line_plot_panel(
            "Drift of the champion's most important features",
            [PanelMetric(legend=f, metric="ValueDrift", metric_labels={"column": f})
             for f in top_features],
            description="Evidently's drift score per feature (method per column type)"))
    return panels


def _ensure_dashboard(ws: Any, project: Any, top_features: list[str]) -> None:
    """Lay the dashboard out when it is new or the champion's top features changed."""
    current = ws.get_dashboard(project.id)
    titles = [p.title for p in current.panels]
    wanted = dashboard_panels(top_features)
    legends = [sorted(v.legend or "" for v in p.values) for p in current.panels]
    if titles == [p.title for p in wanted] and legends == [
            sorted(v.legend or "" for v in p.values) for p in wanted]:
        return
    project.dashboard.clear_dashboard()
    for panel in wanted:
        project.dashboard.add_panel(panel, tab="Monitoring")
