from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.core.settings import PROJECT_ROOT, TELEMETRY_OFF, Settings, mask_secret, redact


def test_defaults_put_everything_under_home(home: Path) -> None:
    s = Settings()
    assert s.home == home.resolve()
    assert s.warehouse == f"sqlite:///{home / 'warehouse.db'}"
    assert s.tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    for path in (s.artifact_root, s.reports_dir, s.prefect_home, s.logs_dir, s.data_dir):
        assert path.is_relative_to(s.home)


def test_precedence_default_toml_env_kwargs(home: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "creditflow.toml"
    cfg.write_text("seed = 7\n[scoring]\napprove_at = 630.0\ndecline_below = 570.0\n")
    monkeypatch.setenv("CREDITFLOW_CONFIG", str(cfg))
    s = Settings()
    assert (s.seed, s.scoring.approve_at, s.scoring.decline_below) == (7, 630.0, 570.0)
    assert s.scoring.pdo == 20.0  # untouched default
    monkeypatch.setenv("CREDITFLOW_SCORING__APPROVE_AT", "640")
    s = Settings()
    assert s.scoring.approve_at == 640.0 and s.scoring.decline_below == 570.0
    assert Settings(seed=99).seed == 99


def test_project_toml_matches_defaults(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checked-in creditflow.toml documents the defaults; it must not silently differ."""
    monkeypatch.setenv("CREDITFLOW_CONFIG", str(PROJECT_ROOT / "creditflow.toml"))
    from_file = Settings().model_dump(exclude={"home"})
    monkeypatch.setenv("CREDITFLOW_CONFIG", str(home / "absent.toml"))
    assert Settings().model_dump(exclude={"home"}) == from_file


def test_masked_hides_passwords_and_webhook_tokens(home: Path) -> None:
    s = Settings(warehouse_url="postgresql+psycopg://risk:hunter2@db.internal:5432/cf",
                 alerts={"urls": ["https://hooks.slack.com/services/T00/B00/SECRETTOKEN",
                                  "slack://TokenA/TokenB/TokenC"]},
                 security={"id_salt": "pepper"})
    text = str(s.masked())
    for secret in ("hunter2", "SECRETTOKEN", "TokenA", "pepper"):
        assert secret not in text
    assert "db.internal" in text and "hooks.slack.com" in text


def test_redact_masks_urls_inside_messages() -> None:
    msg = "connection to postgresql://u:pw@10.0.0.1/db failed"
    assert redact(msg) == "connection to postgresql://u:***@10.0.0.1/db failed"
    assert mask_secret("sqlite:///x.db") == "sqlite:///x.db"


def test_config_hash_ignores_paths_and_secrets_but_not_thresholds(home: Path) -> None:
    base = Settings().config_hash()
    assert Settings(home=home / "other", security={"id_salt": "x"}).config_hash() == base
    assert Settings(scoring={"approve_at": 650}).config_hash() != base


def test_telemetry_is_off_after_import() -> None:
    for key, value in TELEMETRY_OFF.items():
        assert os.environ.get(key) == value
