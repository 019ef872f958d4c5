"""The model's life by hand: ``train``, ``promote``, ``rollback``; each decision recorded with
who asked for it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from flows.cli.options import DebugOpt, JsonOpt
from flows.cli.support import date_option, run
from pipelines.core.settings import Settings


def train(
    train_end: Annotated[date | None, date_option(
        help="Last day of the training window.")] = None,
    oot_months: Annotated[int | None, typer.Option(help="Out-of-time window length.")] = None,
    hpo_trials: Annotated[int | None, typer.Option(help="Optuna trials (0: none).")] = None,
    hpo_timeout: Annotated[int | None, typer.Option(help="Optuna budget in seconds.")] = None,
    promote: Annotated[bool, typer.Option(help="Run the promotion flow afterwards.")] = True,
    family: Annotated[str, typer.Option(
        help="Model family: pd (the main model), epd (early payment default) or roll "
             "(collections roll-forward).")] = "pd",
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train a PD model (Prefect flow `training`), register it as challenger, then promote on
    evidence; --family epd trains the early-payment-default model under its own name."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.training import training

        return training(train_end=train_end, oot_months=oot_months, hpo_trials=hpo_trials,
                        hpo_timeout_s=hpo_timeout, promote=promote, triggered_by="cli",
                        family=family)

    run(action, as_json, debug, flows=True)


def promote(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Compare and print the verdict; move nothing, record nothing.")] = False,
    version: Annotated[str | None, typer.Option(
        help="Judge this version instead of the 'challenger' alias.")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Judge the challenger against the champion on the same recent out-of-time window and
    promote it if every rule passes; prints the comparison table and the verdict.

    --dry-run calls the promotion stage directly (fast, no Prefect, nothing written); without it
    the Prefect flow `promotion` runs (alias move and audit, visible in the Prefect UI). A verdict
    exits 0 whatever it is; an error (no challenger, registry unreachable) exits 1."""
    from pipelines.promotion.decision import decision_markdown

    def action(settings: Settings) -> dict[str, Any]:
        if dry_run:
            from pipelines.promotion.apply import promote_challenger
            from pipelines.warehouse.engine import Warehouse

            return promote_challenger(settings, Warehouse.from_settings(settings), dry_run=True,
                                      triggered_by=_who(), challenger_version=version).as_dict()
        from flows.promotion import promotion

        return promotion(triggered_by=_who(), challenger_version=version)

    run(action, as_json, debug, lambda s: print(decision_markdown(s)), flows=not dry_run)


def rollback(as_json: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Put the 'previous' model version back as champion (the stage, no Prefect) and record it
    in the promotion audit; exits 1 if there is no previous version."""
    from pipelines.promotion.rollback import rollback_champion
    from pipelines.warehouse.engine import Warehouse

    run(lambda s: rollback_champion(s, Warehouse.from_settings(s), triggered_by=_who()),
        as_json, debug)


def _who() -> str:
    """Who triggered a CLI action, for the audit record."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli:unknown"
