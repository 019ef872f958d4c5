"""One settings object for the whole pipeline.

Precedence, highest first: keyword arguments, ``CREDITFLOW_*`` environment variables (nested with
``__``, e.g. ``CREDITFLOW_SCORING__APPROVE_AT=640``), ``creditflow.toml``, the defaults. Every
stage's thresholds and their defaults are in one file a risk analyst can read,
``pipelines.core.stage_settings``; this one adds the home, the stores, alerts and secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from models.redaction import mask_secret as mask_secret  # re-exported: one redaction for all
from models.redaction import redact as redact
from pipelines.core.stage_settings import (
    CollectionsSettings,
    EpdSettings,
    FeatureSettings,
    IngestSettings,
    MonitoringSettings,
    PromotionSettings,
    ScoringSettings,
    SimulateSettings,
    TrainingSettings,
    ValidationSettings,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Nothing leaves the machine: every library that phones home is told not to, before it is imported.
TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}


class AlertSettings(BaseModel):
    urls: list[SecretStr] = Field(default_factory=list)  # webhook URLs carry tokens
    cooldown_days: int = 7
    timeout_s: float = 5.0

    def targets(self) -> list[str]:
        """The receiver URLs in clear, for delivery only."""
        return [reveal(u) or "" for u in self.urls]


class ReportsSettings(BaseModel):
    base_url: str | None = None  # where the reports folder is served; alerts link to pages there


class SecuritySettings(BaseModel):
    id_salt: SecretStr = SecretStr("change-me")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDITFLOW_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    home: Path = Path(".creditflow")
    seed: int = 42
    warehouse_url: SecretStr | None = None  # may hold a password
    mlflow_tracking_uri: str | None = None
    prefect_api_url: str | None = None
    simulate: SimulateSettings = SimulateSettings()
    ingest: IngestSettings = IngestSettings()
    validation: ValidationSettings = ValidationSettings()
    features: FeatureSettings = FeatureSettings()
    training: TrainingSettings = TrainingSettings()
    scoring: ScoringSettings = ScoringSettings()
    promotion: PromotionSettings = PromotionSettings()
    epd: EpdSettings = EpdSettings()
    collections: CollectionsSettings = CollectionsSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    alerts: AlertSettings = AlertSettings()
    reports: ReportsSettings = ReportsSettings()
    security: SecuritySettings = SecuritySettings()

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        if "{{" in str(v):  # prefect.yaml's "{{ $CREDITFLOW_HOME }}" with nothing exported
            raise ValueError(f"home {v} is an unfilled template: export CREDITFLOW_HOME "
                             "before `prefect deploy` (prefect.yaml passes it to every run)")
        return v.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return (init_settings, env_settings, toml)

    # Derived locations: everything lives under one home folder unless told otherwise.
    @property
    def warehouse(self) -> str:
        return reveal(self.warehouse_url) or f"sqlite:///{self.home / 'warehouse.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def ensure_dirs(self) -> None:
        for d in (self.home, self.artifact_root, self.reports_dir, self.prefect_home,
                  self.logs_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)

    def masked(self) -> dict[str, Any]:
        """The effective configuration with every secret masked, safe to print or log."""
        data = json.loads(self.model_dump_json())
        data["warehouse_url"] = mask_secret(self.warehouse)
        data["mlflow_tracking_uri"] = mask_secret(self.tracking_uri)
        data["prefect_api_url"] = self.prefect_api_url and mask_secret(self.prefect_api_url)
        data["alerts"]["urls"] = [mask_secret(u, keep_path=False) for u in self.alerts.targets()]
        data["security"]["id_salt"] = "***"
        return data

    def config_hash(self) -> str:
        """Hash of every setting that changes a model or a decision (not paths or secrets)."""
        data = json.loads(self.model_dump_json(exclude={"home", "warehouse_url",
                                                        "mlflow_tracking_uri", "prefect_api_url",
                                                        "alerts", "security"}))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def reveal(value: SecretStr | str | None) -> str | None:
    """A secret's clear text where it is used (a connection, a delivery, a hash key). Plain
    strings pass too: ``model_copy(update=...)`` does not validate, so it can put them there."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def config_path() -> Path | None:
    """CREDITFLOW_CONFIG, else ./creditflow.toml, else the project's own."""
    if env := os.environ.get("CREDITFLOW_CONFIG"):
        return Path(env)
    for candidate in (Path.cwd() / "creditflow.toml", PROJECT_ROOT / "creditflow.toml"):
        if candidate.exists():
            return candidate
    return None


def disable_telemetry() -> None:
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    disable_telemetry()
    return Settings()


disable_telemetry()
