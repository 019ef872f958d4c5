"""The day's snapshot stored without loading Evidently's datasets service: a full Evidently
``Workspace`` on the folder sees the project, one run per date (a rerun replaces it) and the
dashboard laid out for the top features."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.monitoring import workspace as W

DAY = date(2025, 9, 1)


def _snapshot(day: date, top: list[str]) -> object:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(list("xyz"), 300)})
    cur = pd.DataFrame({"a": rng.normal(0.3, size=200), "c": rng.choice(list("xyz"), 200)})
    return W.day_snapshot(ref, cur, ["a", "c"], top, {"score_psi": 0.1, "realised_auc": None},
                          day, "3", 5_000, 0.5, None, 42)


def test_snapshots_and_dashboard_as_evidently_reads_them(tmp_path: Path) -> None:
    from evidently.ui.workspace import Workspace

    folder = tmp_path / "workspace"
    W.record_snapshot(folder, DAY, _snapshot(DAY, ["a"]), ["a"])
    path = W.record_snapshot(folder, DAY, _snapshot(DAY, ["a", "c"]), ["a", "c"])  # a rerun
    other = W.record_snapshot(folder, date(2025, 9, 2), _snapshot(date(2025, 9, 2), ["a", "c"]),
                              ["a", "c"])
    ws = Workspace.create(str(folder))
    [project] = ws.search_project(W.PROJECT_NAME)
    assert str(project.id) == W.project_id(folder)
    runs = {str(r) for r in ws.list_runs(project.id)}
    assert runs == {path.stem, other.stem}
    assert ws.get_run(project.id, path.stem).metadata["business_date"] == DAY.isoformat()
    panels = ws.get_dashboard(project.id).panels
    assert [p.title for p in panels] == [p.title for p in W.dashboard_panels(["a", "c"])]
    assert sorted(v.legend for v in panels[-1].values) == ["a", "c"]
