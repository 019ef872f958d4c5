"""``creditflow demo``: the end-to-end demo on a fresh home, and its summary in words."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from flows.cli.options import DebugOpt, JsonOpt, Scenario
from flows.cli.support import run
from pipelines.core.settings import Settings


def demo(
    days: Annotated[int, typer.Option(help="Simulated business days.")] = 120,
    scenario: Annotated[Scenario, typer.Option(help="Drift scenario.")] = Scenario(
        "used_car_mix"),
    per_day: Annotated[int, typer.Option(help="Applications per demo day.")] = 400,
    history_per_day: Annotated[int, typer.Option(help="Applications per day of history.")] = 60,
    onset_day: Annotated[int | None, typer.Option(
        help="Day of the drift's onset, counted from the demo's first day (negative: before it, "
             "in the history; default: the demo's middle).")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The end-to-end demo: history, a first champion, then each simulated day ingested,
    scored and monitored; drift alerts, retraining and promotion on evidence."""

    def action(settings: Settings) -> dict[str, Any]:
        from flows.common import boot_api_in_background
        from pipelines.simulation.demo import reset_home

        reset_home(settings)  # before anything in this process opens the stores
        booting = boot_api_in_background()
        from flows.demo import demo as demo_flow

        if booting is not None:
            booting.join()
        return demo_flow(days=days, per_day=per_day, scenario=scenario.value,
                         history_per_day=history_per_day, onset_day=onset_day,
                         progress=not as_json)

    def render(summary: dict[str, Any]) -> None:
        from pipelines.simulation.demo import weeks_table

        out = Console()
        out.print(weeks_table(summary["weeks"]))
        for item in summary["retrainings"]:
            out.print(response_line(item))
        out.print(f"\n[bold]done in {summary['seconds']} s.[/bold] Open what it made:")
        for key, value in summary["open"].items():
            out.print(f"  {key:<20} {value}", highlight=False, soft_wrap=True)

    run(action, as_json, debug, render, flows=True)


def response_line(item: dict[str, Any]) -> str:
    """One drift response of the demo in words: a reference reset with its cut-off check, or a
    challenger (retraining, recalibration, early-target retraining) and its promotion verdict."""
    if item.get("response") == "reference_reset":
        check = item.get("cutoff_check") or {}
        cut = (f"; approval rate {check['approval_rate']:.1%} at approve >= "
               f"{check['approve_at']:.0f} vs target {check['target_approval_rate']:.1%} "
               f"(approve >= {check['approve_at_for_target']:.0f} would meet it)"
               if check else "")
        return f"reference reset on {item['day']} to {item.get('window')}{cut}"
    challenger = item.get("training") or item.get("recalibration") or {}
    promo = item.get("promotion", {})
    return (f"{item.get('response') or 'retraining'} on {item['day']} "
            f"({'; '.join(item.get('reasons', []))}): challenger "
            f"v{challenger.get('version', '?')} -> "
            f"{promo.get('verdict', promo.get('decision', '?'))}")
