"""The risk team's pages on a small trained book: two monitored days (one snapshot each in the
Evidently workspace), the week's and month's risk reports and the index; then the pages in
headless Chromium (no broken image, no console error, no empty section; screenshots kept under
test-artifacts/) and the Evidently UI on loopback answering for the project."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from models.registry import run_info
from pipelines.champion import current_champion
from pipelines.core.settings import Settings
from pipelines.monitoring.day import monitor_day
from pipelines.monitoring.measure import _reference_scores
from pipelines.monitoring.pages import index_path, week_of
from pipelines.monitoring.risk_report import write_day_reports
from pipelines.monitoring.workspace import project_id, workspace_dir
from pipelines.scoring.run import score_day
from pipelines.warehouse.engine import Warehouse
from tests.trained import copy_home

pytestmark = pytest.mark.slow
DAY = date(2025, 6, 29)  # a Sunday: the week ends with it
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def pages(trained_home_template: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Settings, dict]]:
    """A copy of the trained home with two monitored days and the pages of DAY."""
    home = tmp_path_factory.mktemp("pages") / "home"
    copy_home(trained_home_template, home)
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CREDITFLOW_") and key != "CREDITFLOW_SECURITY__ID_SALT":
                mp.delenv(key)
        mp.setenv("CREDITFLOW_HOME", str(home))
        mp.setenv("CREDITFLOW_MONITORING__MIN_WINDOW_ROWS", "100")
        mp.setenv("CREDITFLOW_MONITORING__WINDOW_DAYS", "7")  # fewer days to score
        mp.setenv("CREDITFLOW_MONITORING__PSI_BANDS", "[0.0, 0.000001]")  # alerts fire
        mp.setenv("CREDITFLOW_REPORTS__BASE_URL", "https://risk.example.internal/reports")
        s = Settings()
        wh = Warehouse.from_settings(s)
        for offset in range(s.monitoring.window_days):
            score_day(s, wh, DAY - timedelta(days=offset))
        champion = current_champion(s)
        results = {d: monitor_day(s, wh, d, champion.reference, champion.description)
                   for d in (DAY - timedelta(days=1), DAY)}
        reports = write_day_reports(s, wh, DAY, _reference_scores(s, champion.reference))
        yield s, {"results": results, "reports": reports, "wh": wh}
        wh.dispose()


def test_workspace_holds_one_snapshot_per_day(pages: tuple[Settings, dict]) -> None:
    s, _ = pages
    folder = workspace_dir(s.reports_dir)
    project = project_id(folder)
    assert project is not None
    snapshots = [json.loads(p.read_text()) for p in (folder / project / "snapshots").glob("*")]
    assert sorted(x["metadata"]["business_date"] for x in snapshots) == [
        (DAY - timedelta(days=1)).isoformat(), DAY.isoformat()]
    snap = next(x for x in snapshots if x["metadata"]["business_date"] == DAY.isoformat())
    assert snap["timestamp"].startswith(DAY.isoformat()) and snap["tags"] == ["champion_v1"]
    kinds = {m["metric_value_location"]["metric"]["params"]["type"]
             for m in snap["metric_results"].values()}
    assert {"evidently:metric_v2:DriftedColumnsCount", "evidently:metric_v2:ValueDrift",
            "evidently:metric_v2:CreditflowFigure"} <= kinds
    dashboard = json.loads((folder / project / "dashboard.json").read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    assert "Score PSI" in titles and "Drift of the champion's most important features" in titles


def test_report_sections_alert_links_and_mlflow_tag(pages: tuple[Settings, dict]) -> None:
    s, made = pages
    week = made["reports"][0]
    assert week.path.name == "week-2025-W26.html" and week.period == week_of(DAY)
    html = week.path.read_text()
    for key in ("volume", "scores", "stability", "performance", "roll-rates", "vintages",
                "dealers", "alerts", "models", "data-quality"):
        assert f'id="{key}"' in html
    assert not re.search(r"(src|href)=\"https?:|<script|<link", html)  # nothing to fetch
    url = "https://risk.example.internal/reports/risk/week-2025-W26.html"
    result = made["results"][DAY]
    assert result.page == url and result.alerts
    stored = made["wh"].read("alerts", "business_date = :d", {"d": DAY})
    assert stored["message"].str.contains(url, regex=False).all()
    assert "score_psi" in html and "retraining" in html  # the alert and the response
    assert "Loss forecast from the roll rates" in html and "charged off since" in html
    run = run_info(s.tracking_uri, result.mlflow_run_id)
    assert run["tags"]["creditflow.page"] == url
    index = index_path(s).read_text()
    assert 'href="risk/week-2025-W26.html"' in index and "month-2025-06" in index


def _chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it with apt-get)")
    pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) not installed")


def _check_page(browser: object, url: str, shot: Path) -> dict:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))
    page.goto(url, wait_until="load")
    found = page.evaluate("""() => ({
        images: Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0]),
        sections: Array.from(document.querySelectorAll('section')).map(
            s => [s.id, s.innerText.replace(s.querySelector('h2').innerText, '').trim().length
                  + s.querySelectorAll('img, table').length])
    })""")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    return {"errors": errors, **found}


def test_pages_render_in_headless_chromium(pages: tuple[Settings, dict]) -> None:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    s, made = pages
    targets = {"index": index_path(s), "week": made["reports"][0].path}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            seen = {name: _check_page(browser, path.as_uri(), ARTIFACTS / f"risk-{name}.png")
                    for name, path in targets.items()}
        finally:
            browser.close()
    for name, found in seen.items():
        assert found["errors"] == [], (name, found["errors"])
        assert all(ok for _, ok in found["images"]), (name, found["images"])
        assert all(length > 0 for _, length in found["sections"]), (name, found["sections"])
    assert len(seen["week"]["images"]) >= 5 and all(alt for alt, _ in seen["week"]["images"])
    assert (ARTIFACTS / "risk-week.png").stat().st_size > 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_evidently_ui_serves_the_project_on_loopback(pages: tuple[Settings, dict]) -> None:
    s, _ = pages
    folder = workspace_dir(s.reports_dir)
    project = project_id(folder)
    port = _free_port()
    ui = subprocess.Popen([str(Path(sys.executable).parent / "evidently"), "ui", "--workspace",
                           str(folder), "--host", "127.0.0.1", "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={**os.environ, "DO_NOT_TRACK": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        projects = _get_json(f"{base}/api/projects", ui)
        assert [p["name"] for p in projects] == ["creditflow"]
        assert projects[0]["id"] == project
        snapshots = _get_json(f"{base}/api/projects/{project}/snapshots", ui)
        assert len(snapshots) == 2
        with urllib.request.urlopen(f"{base}/projects/{project}", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        ui.terminate()
        ui.wait(timeout=20)


def _get_json(url: str, ui: subprocess.Popen) -> list:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            if ui.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"evidently ui did not answer: {ui.stderr.read()!r}") \
                    from None
            time.sleep(0.5)
