"""The options every command shares: --json, --debug, and the closed sets (tape kinds, suite
kinds, drift scenarios) as enumerations, so click checks them (a usage error, exit 2) and
--help lists them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, get_args

import typer

from pipelines.core.stage_settings import SimulateSettings
from pipelines.ingest.mapping import KINDS as TAPE_KINDS
from pipelines.validation.quarantine import KINDS as SUITE_KINDS

TapeKind = StrEnum("TapeKind", {k: k for k in TAPE_KINDS})
SuiteKind = StrEnum("SuiteKind", {k: k for k in SUITE_KINDS})
Scenario = StrEnum("Scenario", {s: s for s in get_args(
    SimulateSettings.model_fields["scenario"].annotation)})

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary object on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
# the file arguments of ingest and validate
FileArg = Annotated[Path, typer.Argument(help="CSV or Parquet file.")]
MappingOpt = Annotated[Path | None, typer.Option(help="YAML column mapping.")]
