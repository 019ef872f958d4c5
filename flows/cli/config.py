"""``creditflow config show|docs`` and ``creditflow home relocate``: the configuration and the
home folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from flows.cli.options import DebugOpt, JsonOpt
from flows.cli.support import run
from pipelines.core.settings import Settings, config_path


def show(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Print the effective configuration, secrets masked."""

    def action(settings: Settings) -> dict[str, Any]:
        return {"config_file": str(config_path()), "config_hash": settings.config_hash(),
                **settings.masked()}

    def render(summary: dict[str, Any]) -> None:
        Console().print_json(json.dumps(summary, default=str))

    run(action, as_json, debug, render)


def docs() -> None:
    """Print the configuration reference (Markdown) generated from the settings model."""
    from pipelines.core.config_docs import reference_markdown

    print(reference_markdown())


def relocate(
    moved_from: Annotated[Path, typer.Option("--from", help="Where the home was before.")],
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rewrite the paths a copied or moved home recorded under its old place. Every command
    does this by itself for a home that records where it is (home.json); this is for a home
    made before it did."""
    from pipelines.core.home import open_home

    def action(settings: Settings) -> dict[str, Any]:
        done = open_home(settings, moved_from)
        return done or {"from": str(moved_from), "to": str(settings.home), "mlflow": 0,
                        "warehouse": 0}

    run(action, as_json, debug)
