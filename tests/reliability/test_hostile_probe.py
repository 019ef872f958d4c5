"""Issue 16, hardening from a hostile-input probe (items 1, 2, 3, 4 and 7), one test each:

1. a warehouse password in any form SQLAlchemy accepts (a raw ``/``, ``?password=``,
   ``?sslpassword=``) never reaches ``init``'s error, ``config show``, ``summary`` or a log;
2. markup in a text column is shown escaped in the Data Docs page, never run;
3. a mapping that names a warehouse column or key as an extra feature is refused by entry
   before anything is written, and loading rows again replaces their extra features;
4. absurd numbers (inf, -inf, 1e308) are quarantined with rule, column and value, never scored;
7. a YAML alias bomb (nested aliases, under 400 bytes) is refused at once with a short error.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from models.redaction import mask_secret, redact
from models.registry.store import _param_value
from pipelines.core.settings import PROJECT_ROOT, Settings
from pipelines.ingest.dry_run import validate_file
from pipelines.ingest.load import ingest_file
from pipelines.ingest.mapping import MappingError, load_mapping
from pipelines.scoring.run import score_day
from pipelines.validation.quarantine import SuiteError, load_suite
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import read_extra
from tests.reliability.test_dependencies import closed_port
from tests.reliability.test_hostile_errors import tape

pytestmark = pytest.mark.reliability
runner = CliRunner()

DAY = date(2025, 7, 20)  # after the trained book's end


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


# -- 1. secrets in every URL form -------------------------------------------------------------

def secret_urls(host: str, db: str, tag: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (URL, the secret strings it holds): the forms SQLAlchemy and psycopg accept."""
    return {
        "raw slash": (f"postgresql+psycopg://risk:pw{tag}/x:?y@{host}/{db}", [f"pw{tag}"]),
        "query": (f"postgresql+psycopg://risk@{host}/{db}?password=qp{tag}&sslmode=prefer",
                  [f"qp{tag}"]),
        "encoded and sslpassword": (
            f"postgresql+psycopg://risk:en{tag}%2Fz@{host}/{db}?sslpassword=ssl{tag}",
            [f"en{tag}", f"ssl{tag}"]),
    }


def run_cli(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, args)
    return result.exit_code, f"{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("form", ["raw slash", "query", "encoded and sslpassword"])
def test_a_warehouse_password_in_any_url_form_is_never_printed(
        form: str, home: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    url, secrets = secret_urls(f"127.0.0.1:{closed_port()}", "cf", uuid.uuid4().hex[:10])[form]
    monkeypatch.setenv("CREDITFLOW_WAREHOUSE_URL", url)
    caplog.set_level(logging.DEBUG)
    code, init_out = run_cli(["init"])
    assert code == 1 and "cannot initialise warehouse" in init_out and "***" in init_out
    outputs = {"init": init_out, "init --json": run_cli(["init", "--json"])[1],
               "config show": run_cli(["config", "show"])[1],
               "config show --json": run_cli(["config", "show", "--json"])[1],
               "summary": run_cli(["summary"])[1], "logs": caplog.text}
    assert "risk:***@" in outputs["config show --json"] or "password=***" in outputs[
        "config show --json"]
    settings = Settings()  # the secret is held as a SecretStr: repr and dumps hide it
    outputs["settings repr"] = f"{settings!r} {settings.model_dump_json()}"
    leaks = [(where, s) for where, text in outputs.items() for s in secrets if s in text]
    assert not leaks, leaks


def test_summary_of_a_live_warehouse_reached_with_a_password_shows_it_masked(
        pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL's test server trusts loopback: any password connects, so each form is used."""
    host_db = pg_url.split("@", 1)[1]
    host, db = host_db.split("/", 1)
    caplog.set_level(logging.DEBUG)
    for url, secrets in secret_urls(host, db, uuid.uuid4().hex[:10]).values():
        monkeypatch.setenv("CREDITFLOW_WAREHOUSE_URL", url.replace("risk", "postgres"))
        init_code, init_out = run_cli(["init", "--json"])
        code, out = run_cli(["summary"])
        assert (init_code, code) == (0, 0), init_out + out
        assert "Warehouse(postgresql+psycopg://postgres" in out
        assert not [s for s in secrets if s in init_out + out + caplog.text], out


def test_one_redaction_for_settings_registry_and_free_text() -> None:
    url = "postgresql+psycopg://u:p/w:d@db:5432/cf?password=q1&token=t1&sslmode=require"
    assert mask_secret(url) == ("postgresql+psycopg://u:***@db:5432/cf"
                                "?password=***&sslmode=require&token=***")  # keys sorted
    text = f"cannot reach {url} (dsn: host=db password=q2 sslpassword=q3 condition_key=k)"
    shown = redact(text)
    assert not [s for s in ("p/w:d", "q1", "t1", "q2", "q3") if s in shown], shown
    assert "condition_key=k" in shown  # only credential names are masked in free text
    assert _param_value({"warehouse": url}) == redact('{"warehouse": "' + url + '"}')


# -- 2. markup from the data in the validation report -----------------------------------------

SCRIPT, IMG = "<script>alert(document.cookie)</script>", "<img src=x onerror=alert(1)>"


class Markup(HTMLParser):
    """The tags, attributes and script bodies a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: set[str] = set()
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs |= {name for name, _ in attrs}
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def test_markup_in_a_text_column_is_escaped_in_the_data_docs_of_a_dry_run(
        home: Path, tmp_path: Path) -> None:
    path = tape(tmp_path, vehicle_segment={3: SCRIPT}, housing={5: IMG})
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    report = Path(result.stdout.split('"report_path": "', 1)[1].split('"', 1)[0])
    page = report.read_text()
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert SCRIPT not in page and IMG not in page
    seen = Markup()
    seen.feed(page)
    assert "onerror" not in seen.attrs
    assert not [s for s in seen.scripts if "document.cookie" in s]


def test_markup_is_escaped_in_the_markdown_summary(settings: Settings, tmp_path: Path) -> None:
    from pipelines.validation.gate import summary_markdown

    gate = validate_file(settings, tape(tmp_path, vehicle_segment={3: SCRIPT}), "applications")
    text = summary_markdown(gate)
    assert "&lt;script&gt;" in text and "<script" not in text


# -- 3. mapping names against the warehouse ---------------------------------------------------

@pytest.mark.parametrize(("extra", "clash"), [
    ({"numeric": ["annual_income"]},
     "extra_features.numeric 'annual_income' is a column of the warehouse table"),
    ({"categorical": ["application_id"]},
     "extra_features.categorical 'application_id' is a key of the warehouse table"),
    ({"numeric": ["income_src"]}, "extra_features.numeric 'income_src' is also read as the "
                                  "warehouse column 'annual_income'"),
    ({"numeric": ["m"], "categorical": ["m"]}, "'m' is named twice"),
])
def test_a_mapping_that_clashes_with_the_warehouse_is_refused_before_anything_is_written(
        extra: dict[str, list[str]], clash: str, settings: Settings, sqlite_wh: Warehouse,
        tmp_path: Path) -> None:
    frame = pd.read_csv(tape(tmp_path), dtype=str).rename(columns={"annual_income": "income_src"})
    frame["m"] = "1"
    path = tmp_path / "renamed.csv"
    frame.to_csv(path, index=False)
    mapping = write_yaml(tmp_path / "mapping.yaml", {
        "kind": "applications", "columns": {"annual_income": "income_src"},
        "extra_features": extra})
    with pytest.raises(MappingError, match=clash):
        validate_file(settings, path, "applications", mapping, wh=sqlite_wh)
    with pytest.raises(MappingError, match=clash):
        ingest_file(sqlite_wh, path, "applications", mapping, settings=settings)
    assert sqlite_wh.count("applications") == sqlite_wh.count("validation_results") == 0


def test_loading_rows_again_replaces_their_extra_features(
        any_wh: Warehouse, settings: Settings, tmp_path: Path) -> None:
    path = tape(tmp_path)
    frame = pd.read_csv(path, dtype=str)
    frame["months_at_address"], frame["state"] = "12", "NV"
    frame.to_csv(path, index=False)
    both = write_yaml(tmp_path / "both.yaml", {"kind": "applications", "extra_features": {
        "numeric": ["months_at_address"], "categorical": ["state"]}})
    one = write_yaml(tmp_path / "one.yaml", {"kind": "applications",
                                             "extra_features": {"categorical": ["state"]}})

    def extras() -> pd.DataFrame:
        return read_extra(any_wh.read("applications", columns=["extra"])["extra"])

    ingest_file(any_wh, path, "applications", both, settings=settings, business_date=DAY)
    assert sorted(extras().columns) == ["months_at_address", "state"]
    ingest_file(any_wh, path, "applications", one, settings=settings, business_date=DAY)
    assert list(extras().columns) == ["state"]
    ingest_file(any_wh, path, "applications", settings=settings, business_date=DAY)
    assert any_wh.read("applications", columns=["extra"])["extra"].isna().all()
    assert any_wh.count("applications") == 40


# -- 4. absurd numbers ------------------------------------------------------------------------

def test_every_numeric_column_of_every_suite_has_a_finite_ceiling(settings: Settings) -> None:
    unbounded = [f"{kind}.{rule.name}" for kind in ("applications", "loans", "repayments",
                                                    "features", "scores")
                 for rule in load_suite(kind, settings).columns.values()
                 if rule.type in ("float", "int") and not rule.finite
                 and (rule.max is None or not np.isfinite(rule.max))]
    assert not unbounded, f"numeric columns without a finite upper bound: {unbounded}"


def test_infinite_and_absurd_numbers_are_quarantined_and_never_scored(
        trained_settings: Settings, tmp_path: Path) -> None:
    wh = Warehouse.from_settings(trained_settings)
    path = tape(tmp_path, down_payment={3: "inf", 11: "-inf"}, monthly_debt={5: "1e308"},
                vehicle_price={8: "1e308"})
    absurd = pd.read_csv(path, dtype=str)["application_id"].iloc[[3, 5, 8, 11]].tolist()
    result = ingest_file(wh, path, "applications", settings=trained_settings,
                         business_date=DAY)
    assert (result.rows_written, result.rows_quarantined) == (36, 4)
    q = wh.read("quarantine", where="batch_id = :b", params={"b": result.batch_id},
                order_by="row_number")
    assert q[["row_number", "rule", "column_name", "value"]].values.tolist() == [
        [4, "between", "down_payment", "inf"], [6, "between", "monthly_debt", "1e+308"],
        [9, "between", "vehicle_price", "1e+308"], [12, "between", "down_payment", "-inf"]]
    scored = score_day(trained_settings, wh, DAY)
    assert scored.counts["scored"] == 36
    ids = set(wh.read("scores", columns=["application_id"])["application_id"])
    assert ids and not ids & set(absurd)


def test_an_infinite_extra_feature_is_quarantined(settings: Settings, sqlite_wh: Warehouse,
                                                  tmp_path: Path) -> None:
    path = tape(tmp_path)
    frame = pd.read_csv(path, dtype=str)
    frame["months_at_address"] = ["inf" if i == 2 else "7" for i in range(len(frame))]
    frame.to_csv(path, index=False)
    mapping = write_yaml(tmp_path / "m.yaml", {"kind": "applications", "extra_features": {
        "numeric": ["months_at_address"]}})
    result = ingest_file(sqlite_wh, path, "applications", mapping, settings=settings,
                         business_date=DAY)
    q = sqlite_wh.read("quarantine")
    assert result.rows_quarantined == 1
    assert q[["row_number", "rule", "column_name", "value"]].values.tolist() == [
        [3, "finite", "months_at_address", "inf"]]


# -- 7. YAML bombs ----------------------------------------------------------------------------

LEVELS = "abcdefgh"  # each level nine aliases of the one before: 9**8 values once expanded
BOMB = ("kind: applications\na: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n"
                  for a, b in pairwise(LEVELS))
        + "columns: {application_id: *h}\n")


def test_a_yaml_alias_bomb_is_refused_at_once_with_a_short_error(
        home: Path, settings: Settings, sqlite_wh: Warehouse, tmp_path: Path) -> None:
    assert len(BOMB.encode()) < 400
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    started = time.perf_counter()
    with pytest.raises(MappingError) as refused:
        ingest_file(sqlite_wh, tape(tmp_path), "applications", bomb, settings=settings)
    assert time.perf_counter() - started < 0.5
    message = str(refused.value)
    assert "alias '*a' refused" in message and len(message) < 400, message[:500]

    code, out = run_cli(["ingest", str(tmp_path / "tape.csv"), "--mapping", str(bomb)])
    assert code == 1 and "alias" in out and len(out) < 600, out[:600]
    assert sqlite_wh.count("applications") == 0

    nested = tmp_path / "nested.yaml"
    nested.write_text("kind: applications\ncolumns: " + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(MappingError, match="nested more than 20 levels"):
        load_mapping(nested, "applications")


def test_a_suite_with_aliases_is_refused(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "suites"
    folder.mkdir()
    shipped = (PROJECT_ROOT / "expectations" / "applications.yaml").read_text()
    (folder / "applications.yaml").write_text(BOMB.split("\n", 1)[1].replace(
        "columns: {application_id: *h}", "") + shipped)
    local = settings.model_copy(update={"validation": settings.validation.model_copy(
        update={"suites_dir": folder})})
    with pytest.raises(SuiteError, match="alias '\\*a' refused"):
        load_suite("applications", local)
