"""Hostile strings (SQL, quotes, backslashes, driver placeholders, unicode, very long values)
through application ids, dealer ids, loan-tape mapping names and configuration values: each is
stored verbatim or refused with an error that names it, never executed. The tables survive.

A source scan closes the loop: SQL text in the product is built only from literals, bound
parameter names and identifiers taken from pipelines/warehouse/schema.py, never from runtime values."""

from __future__ import annotations

import ast
import json
import re
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import inspect

from models.registry import aliases, client_for, ensure_experiment
from pipelines.core.settings import PROJECT_ROOT, Settings
from pipelines.ingest.load import ingest_file
from pipelines.ingest.mapping import MappingError
from pipelines.monitoring.alerts import send_alert
from pipelines.scoring.models import ScoringError
from pipelines.scoring.run import score_day
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import read_extra

pytestmark = pytest.mark.reliability

HOSTILE = [
    "'; DROP TABLE scores; --",
    "Robert'); DROP TABLE applications;--",
    "1 OR 1=1",
    "quote \" and ' both",
    "back\\slash\\ and \\' escaped",
    "%(x)s and %s",
    ":param and :d",
    "? ?",
    "${validation.max_ltv} {0}",
    "Ünïcødé ✓ 日本語 🚗",
    "multi\nline",
    "x" * 64,  # the widest value the String(64) columns hold
]
DAY = date(2025, 7, 20)  # after the trained book's end


def assert_tables_intact(wh: Warehouse) -> None:
    names = set(inspect(wh.engine).get_table_names())
    assert set(schema.metadata.tables) <= names
    for table in schema.metadata.tables:
        wh.count(table)  # each one still answers


def hostile_tape(tmp: Path, day: date, ids: list[str]) -> Path:
    """One row per id, the dealer ids hostile too (shifted by one)."""
    apps = simulate_book(len(ids), day, day, seed=3).applications
    # the simulator's tail may break a rule (PTI above 1): keep this tape clean but for the ids
    apps["annual_income"] = apps["annual_income"].clip(lower=24 * apps["monthly_payment"])
    apps["application_id"] = ids
    apps["dealer_id"] = ids[1:] + ids[:1]
    path = tmp / f"hostile-{day}.csv"
    apps.drop(columns=["business_date"]).to_csv(path, index=False)
    return path


def test_hostile_ids_are_stored_verbatim(any_wh: Warehouse, settings: Settings,
                                         tmp_path: Path) -> None:
    path = hostile_tape(tmp_path, DAY, HOSTILE)
    result = ingest_file(any_wh, path, "applications", settings=settings, business_date=DAY)
    assert (result.rows_written, result.rows_quarantined) == (len(HOSTILE), 0)
    back = any_wh.read("applications", order_by="application_id")
    assert sorted(back["application_id"]) == sorted(HOSTILE)
    assert dict(zip(back["application_id"], back["dealer_id"], strict=True)) == dict(
        zip(HOSTILE, HOSTILE[1:] + HOSTILE[:1], strict=True))
    for value in HOSTILE:  # each one found by itself as a bound parameter
        assert any_wh.count("applications", "application_id = :a", {"a": value}) == 1
    assert_tables_intact(any_wh)
    again = ingest_file(any_wh, path, "applications", settings=settings, business_date=DAY)
    assert again.batch_id == result.batch_id and any_wh.count("applications") == len(HOSTILE)


def test_hostile_value_in_a_checked_column_is_quarantined_verbatim(
        any_wh: Warehouse, settings: Settings, tmp_path: Path) -> None:
    ids = [f"H{i:03d}" for i in range(40)]  # one bad row in 40: under every batch share
    path = hostile_tape(tmp_path, DAY, ids)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[7, "vehicle_segment"] = HOSTILE[0]
    frame.to_csv(path, index=False)
    ingest_file(any_wh, path, "applications", settings=settings, business_date=DAY)
    q = any_wh.read("quarantine")
    assert q[["row_number", "rule", "column_name", "value"]].values.tolist() == [
        [8, "in_set", "vehicle_segment", HOSTILE[0]]]
    assert json.loads(q["payload"].iloc[0])["vehicle_segment"] == HOSTILE[0]
    assert any_wh.count("applications") == 39
    assert_tables_intact(any_wh)


def test_overlong_id_is_quarantined_by_name_on_every_dialect(
        any_wh: Warehouse, settings: Settings, tmp_path: Path) -> None:
    """A value wider than its warehouse column: PostgreSQL would refuse the whole file with a
    driver error, SQLite would store it; both must quarantine the row and name the column."""
    ids = [f"L{i:03d}" for i in range(39)] + ["'; DROP TABLE scores; --" + "y" * 5000]
    path = hostile_tape(tmp_path, DAY, ids)
    result = ingest_file(any_wh, path, "applications", settings=settings, business_date=DAY)
    # row 40 carries it as its id, row 39 as its dealer id (shifted by one row)
    assert (result.rows_written, result.rows_quarantined) == (38, 2)
    q = any_wh.read("quarantine", order_by="row_number")
    assert q[["row_number", "column_name"]].values.tolist() == [[39, "dealer_id"],
                                                               [40, "application_id"]]
    assert all(rule.startswith("max_length") for rule in q["rule"])
    assert q["value"].tolist() == [ids[-1]] * 2  # kept whole in the quarantine (a TEXT column)
    assert q["record_key"].tolist() == ["L038", ids[-1][:64]]  # the key column holds 64
    assert_tables_intact(any_wh)


# -- loan-tape mapping names ------------------------------------------------------------------

def test_hostile_mapping_names_are_data_not_sql(any_wh: Warehouse, settings: Settings,
                                                tmp_path: Path) -> None:
    apps = simulate_book(40, DAY, DAY, seed=4).applications.drop(columns=["business_date"])
    src_id, src_income, numeric, categorical = HOSTILE[0], HOSTILE[5], HOSTILE[6], HOSTILE[9]
    apps = apps.rename(columns={"application_id": src_id, "annual_income": src_income})
    apps[numeric] = range(40)
    apps[categorical] = "α"
    apps[HOSTILE[1]] = "unmapped"  # not in the mapping: reported, never written
    tape, mapping = tmp_path / "tape.csv", tmp_path / "mapping.yaml"
    apps.to_csv(tape, index=False)
    mapping.write_text(yaml.safe_dump({
        "kind": "applications",
        "columns": {"application_id": src_id, "annual_income": src_income},
        "extra_features": {"numeric": [numeric], "categorical": [categorical]}}))
    result = ingest_file(any_wh, tape, "applications", mapping, settings=settings,
                         business_date=DAY)
    assert result.rows_written == 40 and result.ignored_columns == [HOSTILE[1]]
    back = any_wh.read("applications", order_by="application_id")
    assert sorted(back["application_id"]) == sorted(apps[src_id])
    extras = read_extra(back["extra"])
    assert sorted(extras.columns) == sorted([numeric, categorical])
    assert set(extras[categorical]) == {"α"}

    # a mapping onto a column the warehouse does not have is refused by name
    mapping.write_text(yaml.safe_dump({"kind": "applications",
                                       "columns": {HOSTILE[0]: "application_id"}}))
    with pytest.raises(MappingError, match=re.escape(f"{HOSTILE[0]} are not warehouse columns")):
        ingest_file(any_wh, tape, "applications", mapping, settings=settings)
    assert any_wh.count("applications") == 40
    assert_tables_intact(any_wh)


# -- ids and configuration through scoring and the registry -----------------------------------

def test_hostile_ids_and_model_name_through_scoring(trained_settings: Settings,
                                                     tmp_path: Path) -> None:
    wh = Warehouse.from_settings(trained_settings)
    settings = trained_settings.model_copy(update={"scoring": trained_settings.scoring
                                                   .model_copy(update={"chunk_rows": 5})})
    ingest_file(wh, hostile_tape(tmp_path, DAY, HOSTILE), "applications", settings=settings,
                business_date=DAY)

    for name in (HOSTILE[0], HOSTILE[6]):  # a model name from the configuration
        renamed = settings.model_copy(update={"training": settings.training.model_copy(
            update={"registered_model_name": name})})
        with pytest.raises(ScoringError) as err:
            score_day(renamed, wh, DAY)
        # looked up as a name (no such model) or refused by MLflow's name rules (':')
        assert (f"no champion: model '{name}' has no 'champion' alias" in str(err.value)
                or f"Invalid model name '{name}'" in str(err.value)), str(err.value)
    assert wh.count("scores") == 0 and wh.count("run_manifest") == 0

    # chunks of five: the chunk bounds are hostile ids, passed as bound parameters
    result = score_day(settings, wh, DAY)
    assert result.counts["scored"] == len(HOSTILE)
    scores = wh.read("scores")
    assert sorted(scores["application_id"]) == sorted(HOSTILE)
    assert aliases(settings.tracking_uri, "creditflow-pd") == {"champion": "1"}
    assert_tables_intact(wh)

    # an experiment name from the configuration cannot steer artifacts out of their root
    exp_id = ensure_experiment(settings.tracking_uri, "../../" + HOSTILE[0],
                               settings.artifact_root)
    location = client_for(settings.tracking_uri).get_experiment(exp_id).artifact_location
    where = Path(location.removeprefix("file://")).resolve()
    assert where.parent == settings.artifact_root.resolve()


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_hostile_alert_condition_and_message_are_stored_and_sent_verbatim(
        settings: Settings, sqlite_wh: Warehouse, receiver: Receiver) -> None:
    s = settings.model_copy(update={"alerts": settings.alerts.model_copy(update={
        "urls": [f"json://127.0.0.1:{receiver.port}/hook"]})})
    key = f"early_delinquency:dealer_id={HOSTILE[1]}"  # dealer ids end up in condition keys
    message = " | ".join(HOSTILE)
    out = send_alert(s, sqlite_wh, key, DAY, message, "critical")
    assert out.delivered == 1
    stored = sqlite_wh.read("alerts")
    assert stored[["condition_key", "message"]].values.tolist() == [[key, message]]
    assert receiver.bodies[0]["message"] == message and key in receiver.bodies[0]["title"]
    assert send_alert(s, sqlite_wh, key, DAY, message, "critical").already_stored
    assert_tables_intact(sqlite_wh)


# -- the source scan ----------------------------------------------------------------------------

SCANNED = ("pipelines", "flows", "models", "features")
SQL_WORDS = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|WHERE|ORDER BY|ON CONFLICT|"
                       r"CREATE TABLE|DROP TABLE|ALTER TABLE)\b")
# Every value interpolated into SQL text, per file, and why it cannot carry a runtime value.
# A new entry needs the same justification; anything else must be a bound parameter.
ALLOWED: dict[str, dict[str, str]] = {
    "pipelines/warehouse/engine.py": {
        "q(table.name)": "a schema.py table, quoted",
        "table.name": "a schema.py table",
        "', '.join((q(c) for c in cols))": "schema.py columns present in the frame, quoted",
        "', '.join((q(c) for c in names))": "schema.py columns, quoted",
        "', '.join((q(k) for k in keys))": "schema.py primary key, quoted",
        "', '.join((f'{q(c)} = excluded.{q(c)}' for c in non_keys))": "schema.py columns",
        "q(c)": "a schema.py column, quoted",
        "', '.join([mark] * len(cols))": "driver placeholders only",
        "action": "DO NOTHING or the DO UPDATE SET list above",
        "names": "schema.py columns present in the frame, quoted (PostgreSQL staging upsert)",
        "stage": "'stage_' + a schema.py table name, quoted: the temporary staging table",
        "rows": "VALUES of driver placeholders, or the SELECT of those columns from the stage",
        "where": "read/count API: callers pass literal SQL with :named parameters (checked below)",
        "order_by": "read API: callers pass literal column names (checked below)",
        "', '.join((q(c) for c in columns))": "schema.py columns of the table read, quoted",
    },
    "pipelines/warehouse/collections.py": {
        "_KNOWN": "a literal condition on :as_of and :lag_cut (the tape known by a date)",
        "_DELINQUENT": "a literal subquery on :first, :last and :delinquent, and _KNOWN"},
    "pipelines/warehouse/history.py": {
        "', '.join(cols)": "schema.APPLICATION_COLUMNS plus two schema columns",
        "' AND '.join(where)": "literal comparisons with :start/:end/:first_id/:last_id",
        "op": "'>=' or '<=' from a literal tuple",
        "key": "a bound parameter's name from a literal tuple",
    },
    "pipelines/warehouse/monitoring.py": {"like": "'metric LIKE :m<i>' placeholders",
                                          "cases": "'WHEN :f<i> THEN :t<i>' placeholders"},
    "pipelines/warehouse/alerts.py": {"anchor": "one of two literal conditions"},
    "pipelines/warehouse/reporting.py": {"names": "':m<i>' placeholders",
                                         "_PERIOD_BATCHES": "a literal subquery on :s and :e"},
    "models/registry/relocate.py": {
        "table": "an MLflow store table from the literal STORE_PATH_COLUMNS",
        "column": "its column, from the same literal tuple"},
}
SQL_ARGS = {"read": ("where", 1), "count": ("where", 1), "read_chunks": ("where", 1),
            "execute": ("sql", 0)}


def _pieces(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(SQL literal text, interpolated expression) for each way Python builds a string from
    parts: f-strings, ``%``, ``.format`` and ``+`` with a SQL literal on one side."""
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                yield text, ast.unparse(v.value)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, ast.Constant) and isinstance(side.value, str):
                yield side.value, ast.unparse(other)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "format":
        base = node.func.value
        text = base.value if isinstance(base, ast.Constant) else ast.unparse(base)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            yield str(text), ast.unparse(arg)


def _constants(tree: ast.AST) -> dict[str, str]:
    """Module-level string constants (e.g. _TRANSITIONS_SQL), to see SQL behind a name."""
    return {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            for t in n.targets if isinstance(t, ast.Name)}


def sql_interpolations() -> list[tuple[str, int, str]]:
    """(file, line, expression) of every value interpolated into SQL text."""
    found = []
    for folder in SCANNED:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            rel = path.relative_to(PROJECT_ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = _constants(tree)
            for node in ast.walk(tree):
                for text, expr in _pieces(node):
                    if SQL_WORDS.search(names.get(text, text)):
                        found.append((rel, node.lineno, expr))
    return found


def test_sql_text_is_built_only_from_schema_identifiers_and_placeholders() -> None:
    found = sql_interpolations()
    assert {f for f, _, _ in found} >= {"pipelines/warehouse/engine.py"}  # the scan sees SQL at all
    unexplained = [f"{f}:{line}: {expr}" for f, line, expr in found
                   if expr not in ALLOWED.get(f, {})]
    assert not unexplained, ("SQL built from values that are not schema identifiers or "
                             "placeholders; bind them as parameters:\n" + "\n".join(unexplained))


def test_callers_pass_literal_sql_to_the_warehouse_api() -> None:
    """``Warehouse.read/count/read_chunks/execute`` take SQL text (``where``, ``order_by``,
    ``sql``): every caller in the product passes a literal, values go in ``params``."""
    offenders = []
    for folder in SCANNED:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            rel = path.relative_to(PROJECT_ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in SQL_ARGS
                        and "wh" in ast.unparse(node.func.value)):
                    continue
                name, pos = SQL_ARGS[node.func.attr]
                args = [k.value for k in node.keywords if k.arg in (name, "order_by")]
                args += node.args[pos:pos + 1]
                for arg in args:
                    literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str | None)
                    vetted = isinstance(arg, ast.JoinedStr) and all(
                        expr in ALLOWED.get(rel, {}) for _, expr in _pieces(arg))
                    if not (literal or vetted):
                        offenders.append(f"{rel}:{node.lineno}: {ast.unparse(arg)}")
    assert not offenders, "SQL text from a runtime value:\n" + "\n".join(offenders)
