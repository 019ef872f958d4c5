"""A decision on record: the ``promotion_audit`` row, the JSON artifact on the challenger's run,
a tag on each version and one run in ``<training experiment>-promotion``.

Only aggregates reach the record, never an applicant id. Crash safety: a winning decision first
writes its audit row as ``promoting`` (``record_intent``), moves the aliases, then completes the
row. A process killed in between leaves that row; the next apply or rollback settles it from the
registry (``settle_interrupted``: ``promoted`` if the champion is its challenger, else
``interrupted``) before any alias moves again, so no champion goes unrecorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from models.promotion_rules import CONFLICT, PROMOTED, ROLLBACK
from models.registry import (
    CHAMPION,
    RegistryError,
    aliases,
    log_training,
    resume_run,
    set_version_tags,
    tracked_run,
)
from pipelines.core.settings import Settings, redact
from pipelines.promotion.decision import PromotionDecision, PromotionError, decision_markdown
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.promotion import (
    append_audit,
    audit_rows_with,
    complete_audit,
    insert_audit,
    settle_audit,
)

# audit rows only: a promotion under way, and one whose process died before the aliases moved
PROMOTING, INTERRUPTED = "promoting", "interrupted"

# The champion's part in a decision, as tagged on its version: never a verdict, which only the
# challenger gets (a champion tagged "rejected" read as if it had been refused).
CHAMPION_ROLE = {PROMOTED: "replaced_champion", CONFLICT: "champion_judged_against"}
DEFENDED = "defended_champion"


def record_intent(wh: Warehouse, decision: PromotionDecision) -> int:
    """The ``promoting`` audit row, written before the aliases move: a process killed between
    the move and its audit leaves this row, not a champion nobody recorded."""
    champion, challenger = _audit_versions(decision.as_dict())
    row = {"model_name": decision.model_name, "challenger_version": challenger,
           "champion_version": champion, "decision": PROMOTING,
           "triggered_by": decision.triggered_by[:128],
           "record": json.dumps(decision.as_dict(), default=str, sort_keys=True),
           "decided_at": decision.decided_at.replace(tzinfo=None)}
    return insert_audit(wh, row)


def settle_interrupted(settings: Settings, wh: Warehouse) -> list[str]:
    """Settle ``promoting`` rows left by a killed promotion from the registry: promoted if the
    champion is their challenger, else interrupted. Runs before any alias moves again, so the
    champion is still what the dead process left. A live promotion may have its row settled
    early; it overwrites the row with its own outcome by id when it finishes."""
    name = settings.training.registered_model_name
    pending = audit_rows_with(wh, name, PROMOTING)
    if pending.empty:
        return []
    try:
        champion = aliases(settings.tracking_uri, name).get(CHAMPION)
    except RegistryError:  # cannot tell what happened: leave the rows in doubt
        return []
    settled = []
    for row in pending.itertuples():
        verdict = PROMOTED if row.challenger_version == champion else INTERRUPTED
        record = {**json.loads(row.record), "verdict": verdict,
                  "settled": {"at": datetime.now(UTC).isoformat(), "champion_now": champion,
                              "reason": "the promoting process stopped before recording "
                                        "its outcome; settled from the registry's champion"}}
        settle_audit(wh, int(row.id), PROMOTING, verdict,
                     json.dumps(record, default=str, sort_keys=True))
        settled.append(verdict)
    return settled


def _artifact_path(stamp: str) -> str:
    return f"promotion/decision-{stamp}.json"


def write_audit(settings: Settings, wh: Warehouse, record: dict[str, Any], stamp: str,
                run_id: str | None, versions: list[str],
                row_id: int | None = None) -> dict[str, Any]:
    """The JSON record as an artifact on ``run_id``, a tag on each version, a warehouse row
    (``row_id``: the decision's ``promoting`` row, completed in place); returns where it went.
    The warehouse row goes first: it is the trail a reviewer queries."""
    name, uri = record["model_name"], settings.tracking_uri
    audit = {"artifact": _artifact_path(stamp) if run_id else None, "run_id": run_id,
             "promotion_experiment": promotion_experiment(settings),
             "version_tags": version_tags(record, stamp, versions)}
    record = {**record, "audit": audit}
    champion, challenger = _audit_versions(record)
    row = {"model_name": name, "challenger_version": challenger,
           "champion_version": champion, "decision": record["verdict"],
           "triggered_by": record["triggered_by"][:128],
           "record": json.dumps(record, default=str, sort_keys=True),
           "decided_at": datetime.fromisoformat(record["decided_at"]).replace(tzinfo=None)}
    try:
        if row_id is None:
            append_audit(wh, row)
        else:
            complete_audit(wh, row_id, row)
        if run_id:
            resume_run(uri, run_id).log_dict(record, _artifact_path(stamp))
        log_promotion_run(settings, record, stamp)
        for version, tags in audit["version_tags"].items():
            set_version_tags(uri, name, version, tags)
    except Exception as exc:
        raise PromotionError(
            f"decision '{record['verdict']}' for {name} (aliases now {record.get('aliases_after')}"
            f") could not be fully recorded: {type(exc).__name__}: {redact(str(exc))[:300]}"
        ) from None
    return audit


def promotion_experiment(settings: Settings) -> str:
    return f"{settings.training.experiment_name}-promotion"


def version_tags(record: Mapping[str, Any], stamp: str,
                 versions: list[str]) -> dict[str, dict[str, str]]:
    """version -> tags of one decision (only for ``versions``, those in the registry): the
    challenger gets ``promotion.<stamp>.verdict``; the champion only a ``role``."""
    key = f"promotion.{stamp}"
    champion, challenger = _audit_versions(record)
    if record["verdict"] == ROLLBACK:
        tags = {challenger: {f"{key}.role": "restored_champion"},
                champion: {f"{key}.role": "rolled_back_champion"}}
    else:
        tags = {challenger: {f"{key}.role": "challenger", f"{key}.verdict": record["verdict"],
                             f"{key}.champion": f"v{champion}" if champion else "none"},
                champion: {f"{key}.role": CHAMPION_ROLE.get(record["verdict"], DEFENDED),
                           f"{key}.challenger": f"v{challenger}"}}
    return {str(v): tags[v] for v in dict.fromkeys(versions) if v in tags}


def log_promotion_run(settings: Settings, record: Mapping[str, Any], stamp: str) -> None:
    """One run per decision in ``<training experiment>-promotion``: both versions' figures on
    the same window as metrics, so the runs table compares decisions like with like."""
    champion, challenger = _audit_versions(record)
    if record["verdict"] == ROLLBACK:
        run_name = f"rollback to v{challenger} (v{champion} demoted)"
    else:
        run_name = (f"promotion v{challenger} vs {f'v{champion}' if champion else 'no champion'}"
                    f": {record['verdict']}")
    params, metrics, tags = promotion_figures(record)
    tags |= {"stamp": stamp, "mlflow.note.content": "\n".join(
        f"- {r}" for r in record.get("reasons", []))}
    texts = {} if record["verdict"] == ROLLBACK else {"decision.md": decision_markdown(record)}
    with tracked_run(settings.tracking_uri, promotion_experiment(settings),
                     settings.artifact_root, run_name=run_name) as run:
        log_training(run, params=params, metrics=metrics, tags=tags, texts=texts)


def promotion_figures(record: Mapping[str, Any]
                      ) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """(params, metrics, tags) of a decision's run. Metrics are ``<role>_oot_<metric>`` with
    ``_ci_low``/``_ci_high`` where an interval was computed; role ``difference`` is challenger
    minus champion (``difference_oot_auc`` is the AUC uplift)."""
    champion, challenger = _audit_versions(record)
    metrics: dict[str, float] = {}
    for metric, row in (record.get("metrics") or {}).items():
        for role, cell in row.items():
            for part, suffix in (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high")):
                if cell.get(part) is not None:
                    metrics[f"{role}_oot_{metric}{suffix}"] = cell[part]
    metrics |= {f"window_{k}": v for k, v in (record.get("counts") or {}).items()}
    if record.get("score_psi") is not None:
        metrics["score_psi_challenger_vs_champion"] = record["score_psi"]
    if record.get("rules"):
        metrics["rules_failed"] = sum(not r["passed"] for r in record["rules"])
        metrics |= {f"rule_passed_{r['name']}": float(r["passed"]) for r in record["rules"]}
    for key, value in (record.get("reason_stability") or {}).items():
        if value is not None and math.isfinite(value):
            metrics[f"reason_stability_{key}"] = value
    params = {"champion_version": champion or "none", "challenger_version": challenger or "none",
              "window": record.get("window") or {}, "cutoffs": record.get("cutoffs") or {},
              "bootstrap": record.get("bootstrap") or {},
              "rule": {r["name"]: f"{r['comparison']} {r['threshold']}"
                       for r in record.get("rules") or []}}
    tags = {"verdict": record["verdict"], "model_name": record["model_name"],
            "decision_id": record["decision_id"], "triggered_by": record["triggered_by"],
            "challenger_run_id": (record.get("challenger") or {}).get("run_id") or "none",
            "champion_run_id": (record.get("champion") or {}).get("run_id") or "none"}
    return params, metrics, tags


def _audit_versions(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(champion_version, challenger_version) columns: the champion at decision time and the
    version that would take its place (for a rollback: the demoted one and the restored one)."""
    if record["verdict"] == ROLLBACK:
        return record.get("demoted"), record.get("champion_restored")
    return (record.get("champion") or {}).get("version"), record["challenger"].get("version")
