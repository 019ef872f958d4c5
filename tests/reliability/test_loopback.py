"""Every server the project starts or tells people to start listens on 127.0.0.1 by default:
the commands in README.md, prefect.yaml, the Makefile and the code (including the ones the demo
prints), and the defaults of what the project starts itself (Prefect's server, MLflow's UI, the
local Dask cluster of `creditflow score --dask`). Nothing binds 0.0.0.0."""

from __future__ import annotations

import ast
import io
import re
import shlex
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.demo import where_to_look
from flows.scoring import dask_runner
from pipelines.core.home import configure_environment
from pipelines.core.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.reliability

DOCS = ("README.md", "prefect.yaml", "Makefile", "creditflow.toml")
CODE = ("pipelines", "flows", "bench")
# A command that starts a listening server, and what it must say to stay on loopback. Dask needs
# more than --host: its dashboards (and a worker's own port) listen on every interface otherwise
# (seen with distributed 2025: `dask scheduler --host 127.0.0.1` served 0.0.0.0:8787).
SERVERS: dict[str, tuple[str, ...]] = {
    r"prefect\s+server\s+start": ("--host 127.0.0.1",),
    r"mlflow\s+(?:ui|server)\b": ("--host 127.0.0.1",),
    r"dask[\s-]+scheduler\b": ("--host 127.0.0.1", "--dashboard-address 127.0.0.1:"),
    r"dask[\s-]+worker\b": ("--host 127.0.0.1", "--dashboard-address 127.0.0.1:"),
    r"\buvicorn\b|\bgunicorn\b|http\.server|jupyter\s+(?:lab|notebook)|evidently\s+ui": (
        "--host 127.0.0.1",),
}
ANY_SERVER = re.compile("|".join(f"(?:{p})" for p in SERVERS))
EVERY_INTERFACE = re.compile(r"0\.0\.0\.0|--host[ =](?!127\.0\.0\.1\b)\S+|--with-healthcheck")


def sources() -> Iterator[tuple[str, str]]:
    """(where, text) units a command can sit in: each line of the documents and each inline
    `code` span; in the code each string (adjacent literals joined, so a command split over
    lines is read whole) and each comment."""
    for name in DOCS:
        path = PROJECT_ROOT / name
        if path.exists():
            yield from _lines(name, path.read_text(encoding="utf-8"))
    for path in (p for d in CODE for p in sorted((PROJECT_ROOT / d).rglob("*.py"))):
        rel, text = path.relative_to(PROJECT_ROOT).as_posix(), path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in parts:  # an f-string's pieces: read joined below
                yield from _lines(f"{rel}:{node.lineno}", node.value)
            elif isinstance(node, ast.JoinedStr):
                yield f"{rel}:{node.lineno}", "".join(
                    v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                yield f"{rel}:{tok.start[0]}", tok.string


def _lines(where: str, text: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        yield f"{where}:{number}", line
        for span in re.findall(r"`([^`]+)`", line):
            yield f"{where}:{number} `{span}`", span


def server_commands(where: str, text: str) -> Iterator[tuple[str, str, str]]:
    """(where, pattern, command) for each server command in the text, the command running to
    the next one or the end of the unit."""
    starts = [m for m in ANY_SERVER.finditer(text)]
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        command = text[m.start():end].split("`")[0]
        pattern = next(p for p in SERVERS if re.match(p, m.group(0)))
        yield where, pattern, command


def test_documented_server_commands_bind_loopback() -> None:
    found, problems = [], []
    for where, text in sources():
        if EVERY_INTERFACE.search(text):
            problems.append(f"{where}: {text.strip()}")
        for at, pattern, command in server_commands(where, text):
            found.append(pattern)
            missing = [flag for flag in SERVERS[pattern] if flag not in command]
            if missing:
                problems.append(f"{at}: {command.strip()!r} lacks {missing}")
    assert not problems, "servers not bound to 127.0.0.1:\n" + "\n".join(problems)
    # the scan found what the README documents (a scan that finds nothing proves nothing)
    assert {r"prefect\s+server\s+start", r"mlflow\s+(?:ui|server)\b",
            r"dask[\s-]+scheduler\b", r"dask[\s-]+worker\b"} <= set(found)


def test_scan_catches_a_command_without_loopback() -> None:
    """The checks above, on commands that must fail them."""
    for bad in ("mlflow ui --backend-store-uri sqlite:///x.db",
                "prefect server start",
                "dask scheduler --host 127.0.0.1",
                "dask worker tcp://127.0.0.1:8786 --host 127.0.0.1"):
        (_, pattern, command), = server_commands("t", bad)
        assert any(flag not in command for flag in SERVERS[pattern]), bad
    for bad in ("mlflow server --host 0.0.0.0", "prefect server start --host=10.0.0.5",
                "prefect worker start --pool p --with-healthcheck"):
        assert EVERY_INTERFACE.search(bad), bad


def test_commands_the_demo_prints_bind_loopback(home: Path) -> None:
    printed = where_to_look(Settings())
    servers = {k: v for k, v in printed.items() if ANY_SERVER.search(v)}
    assert set(servers) == {"mlflow_ui", "prefect_ui", "evidently_ui"}
    for key, command in servers.items():
        words = shlex.split(command)
        assert words[words.index("--host") + 1] == "127.0.0.1", (key, command)
    assert not any("0.0.0.0" in v for v in printed.values())


def test_servers_the_project_starts_default_to_loopback(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PREFECT_SERVER_API_HOST", "MLFLOW_HOST"):
        monkeypatch.delenv(name, raising=False)
    configure_environment(Settings())
    from prefect.settings import get_current_settings

    # `prefect server start` without --host, and the API URL the project points flows at
    assert get_current_settings().server.api.host == "127.0.0.1"
    from mlflow.cli import cli

    host = next(p for p in cli.commands["server"].params if p.name == "host")
    assert host.default == "127.0.0.1"  # `mlflow server` / `mlflow ui` without --host
    # `creditflow score --dask`: the local cluster's scheduler and workers
    runner = dask_runner(Settings(), dask=True)
    assert runner is not None and runner.cluster_kwargs["host"] == "127.0.0.1"
    assert runner.cluster_kwargs.get("dashboard_address") in (None, "127.0.0.1:0")
