from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def _json(result) -> dict:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_init_twice_is_harmless(home: Path) -> None:
    first = runner.invoke(app, ["init", "--json"])
    second = runner.invoke(app, ["init", "--json"])
    assert first.exit_code == second.exit_code == 0
    assert _json(first)["revision"] == _json(second)["revision"]
    assert (home / "warehouse.db").exists()


def test_simulate_loads_the_book_and_prints_json(home: Path) -> None:
    result = runner.invoke(app, ["simulate", "--rows", "3000", "--start", "2024-01-01",
                                 "--end", "2024-12-31", "--json"])
    assert result.exit_code == 0, result.stderr
    out = _json(result)
    assert out["ok"] is True
    assert out["loaded"]["applications"] == 3000
    assert out["loaded"]["repayments"] == out["rows"]["repayments"] > 0
    summary = _json(runner.invoke(app, ["summary", "--json"]))
    assert summary["applications"] == 3000
    assert summary["applications_dates"][0] >= "2024-01-01"


def test_config_show_masks_secrets(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITFLOW_WAREHOUSE_URL", "postgresql+psycopg://risk:hunter2@db:5432/cf")
    monkeypatch.setenv("CREDITFLOW_ALERTS__URLS", '["https://hooks.example.com/T0/B0/SECRET"]')
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert "hunter2" not in result.stdout and "SECRET" not in result.stdout
    out = _json(result)
    assert out["warehouse_url"] == "postgresql+psycopg://risk:***@db:5432/cf"
    assert out["alerts"]["urls"] == ["https://hooks.example.com/***"]


def test_errors_are_one_line_with_nonzero_exit(home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    assert "file not found" in result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    as_json = runner.invoke(app, ["ingest", str(tmp_path / "missing.csv"), "--json"])
    assert _json(as_json) == {"ok": False, "error": f"file not found: {tmp_path / 'missing.csv'}"}


def test_debug_shows_the_traceback(home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing.csv"), "--debug"])
    assert result.exit_code == 1
    assert result.exception is not None and "file not found" in str(result.exception)


def test_bad_date_option_is_a_usage_error(home: Path) -> None:
    result = runner.invoke(app, ["simulate", "--start", "yesterday", "--no-load"])
    assert result.exit_code != 0
    assert "not a date" in result.stderr


def test_train_options_reach_the_flow_as_parameters(home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """--hpo-timeout is a parameter of the training flow (a deployment run can set it too), not
    an environment variable the command line writes for the flow to read."""
    import os

    import flows.training

    seen: dict = {}
    monkeypatch.setattr(flows.training, "training", lambda **kw: seen.update(kw) or {})
    monkeypatch.delenv("CREDITFLOW_TRAINING__HPO_TIMEOUT_S", raising=False)
    result = runner.invoke(app, ["train", "--hpo-trials", "3", "--hpo-timeout", "7",
                                 "--no-promote", "--json"])
    assert result.exit_code == 0, result.stderr
    assert seen == {"train_end": None, "oot_months": None, "hpo_trials": 3,
                    "hpo_timeout_s": 7, "promote": False, "triggered_by": "cli",
                    "family": "pd"}
    assert "CREDITFLOW_TRAINING__HPO_TIMEOUT_S" not in os.environ
