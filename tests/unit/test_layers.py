"""The house plan as a test: every module's imports under
features/, models/, pipelines/ and flows/ are read with ``ast`` (imports inside functions too:
a deferred import is still a dependency) and checked against the layers, bottom up:

1. pure: ``features``, ``models``
2. core and data access: ``pipelines.core``, ``pipelines.warehouse`` (and the ``pipelines`` root)
3. stages: ``pipelines.{ingest,validation,training,promotion,scoring,monitoring}``,
   ``pipelines.champion``; ``pipelines.simulation`` sits apart (it may use stages; none uses it)
4. orchestration: ``flows``
5. entry point: ``flows.cli``

A layer imports only layers at or below its own. Each rule is its own test so that a rule the tree
breaks while a move is under way can be marked xfail alone; every failure lists
``importer (file:line) -> imported`` with the rule it breaks. Import cycles are checked on
module-level imports only (those run when the module is imported; a function-level import is the
usual way to break a cycle and cannot deadlock an import).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "pipelines", "flows")
STAGES = ("ingest", "validation", "training", "promotion", "scoring", "monitoring")
SQL_LIBRARIES = ("sqlalchemy", "sqlite3", "psycopg", "psycopg2", "alembic")
# Parsing a database URL is not database access: models.redaction masks passwords in URLs exactly
# as SQLAlchemy would read them, without an engine or a connection.
URL_PARSING = {"sqlalchemy.engine.make_url", "sqlalchemy.engine.url.make_url",
               "sqlalchemy.make_url", "sqlalchemy.engine.URL", "sqlalchemy.engine.url.URL"}
# The MLflow store is a SQLite file; the registry (a module or a package) moves aliases in one
# write transaction on it.
SQL_ALLOWED_OUTSIDE_WAREHOUSE = ("models.registry",)

PURE, CORE, STAGE, APART, ORCHESTRATION, ENTRY = 1, 2, 3, 3.5, 4, 5
LAYER_NAMES = {PURE: "pure", CORE: "core/data access", STAGE: "stage",
               APART: "simulation (apart)", ORCHESTRATION: "orchestration", ENTRY: "entry point"}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # absolute; the most specific module of ours when it names one
    names: tuple[str, ...]  # for ``from x import a, b``: x.a, x.b (to tell make_url from engines)
    file: str
    line: int
    module_level: bool  # runs when the importer is imported (not in a function or TYPE_CHECKING)

    def __str__(self) -> str:
        return f"{self.importer} ({self.file}:{self.line}) -> {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path, is_package: bool, known: Iterable[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, set(known)
        self.file = str(path.relative_to(ROOT))
        self.depth = 0  # >0 inside a function body or an ``if TYPE_CHECKING:`` block
        self.found: list[Import] = []

    def _add(self, imported: str, names: tuple[str, ...], node: ast.stmt) -> None:
        self.found.append(Import(self.module, imported, names, self.file, node.lineno,
                                 self.depth == 0))

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.depth += 1
            for child in node.body:
                self.visit(child)
            self.depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (alias.name,), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".")
            if not self.is_package:
                package.pop()
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([node.module] if node.module else []))
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            # ``from pipelines.warehouse import history`` depends on the submodule, not only on
            # the package's __init__.
            target = candidate if candidate in self.known else base
            self._add(target, (candidate,), node)


@functools.cache
def imports() -> tuple[Import, ...]:
    known = modules()
    found: list[Import] = []
    for name, path in known.items():
        collector = _Collector(name, path, path.name == "__init__.py", known)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found.extend(collector.found)
    return tuple(found)


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer(module: str) -> float | None:
    """The layer of one of our modules; None for third-party and standard-library modules."""
    if within(module, "features", "models"):
        return PURE
    if within(module, "flows.cli"):
        return ENTRY
    if within(module, "flows"):
        return ORCHESTRATION
    if within(module, "pipelines.simulation"):
        return APART
    if within(module, "pipelines.champion", *(f"pipelines.{s}" for s in STAGES)):
        return STAGE
    if within(module, "pipelines"):
        return CORE  # pipelines.core, pipelines.warehouse and the package root
    return None


def check(rule: str, broken: Callable[[Import], bool]) -> None:
    violations = sorted({str(i) for i in imports() if broken(i)})
    assert not violations, f"{rule}: {len(violations)} import(s) break it\n  " + "\n  ".join(
        violations)


# -- sanity: the collector sees what is there ---------------------------------------------------


def test_collector_reads_the_tree() -> None:
    """Guards against a rule passing because nothing was parsed (a moved root, a renamed file)."""
    found = imports()
    assert {"features", "models", "pipelines", "flows", "flows.cli"} <= set(modules())
    assert any(i.importer == "flows.cli" and within(i.imported, "flows") for i in found)
    assert any(not i.module_level for i in found), "function-level imports must be seen too"


# -- layer rules --------------------------------------------------------------------------------


def test_pure_layer_imports_nothing_above_it() -> None:
    check("features/ and models/ import nothing from pipelines/ or flows/",
          lambda i: layer(i.importer) == PURE and within(i.imported, "pipelines", "flows"))


def test_no_prefect_below_orchestration() -> None:
    check("no Prefect in features/, models/ or pipelines/ (stages run without it)",
          lambda i: within(i.importer, "features", "models", "pipelines")
          and within(i.imported, "prefect"))


def test_pipelines_never_import_flows() -> None:
    check("pipelines/ never imports flows/",
          lambda i: within(i.importer, "pipelines") and within(i.imported, "flows"))


def test_only_flows_import_flows() -> None:
    # Also run over every other top-level package of ours, in case one is added beside these.
    check("only flows/ modules (the CLI among them) import flows",
          lambda i: not within(i.importer, "flows") and within(i.imported, "flows"))


def test_no_flow_imports_the_command_line() -> None:
    check("flows/cli/ is the top: no flow imports it",
          lambda i: layer(i.importer) == ORCHESTRATION and within(i.imported, "flows.cli"))


def test_nothing_but_flows_imports_the_simulator() -> None:
    check("no stage (nor core, warehouse or pure code) imports pipelines.simulation",
          lambda i: within(i.imported, "pipelines.simulation")
          and (layer(i.importer) or 0) < APART)


def test_core_and_warehouse_import_no_stage() -> None:
    check("core and data access (layer 2) import only pure code and each other",
          lambda i: layer(i.importer) == CORE and (layer(i.imported) or 0) > CORE)


def test_layers_only_import_downwards() -> None:
    """The general rule, for what the named rules above do not already say (e.g. a stage importing
    a flow). Layer 2 -> stage imports are left to the rule above."""
    check("a layer imports only layers at or below its own",
          lambda i: (layer(i.imported) or 0) > (layer(i.importer) or 0)
          and layer(i.importer) != CORE)


def test_sql_libraries_only_in_the_warehouse() -> None:
    def broken(i: Import) -> bool:
        if not within(i.imported, *SQL_LIBRARIES) or within(i.importer, "pipelines.warehouse"):
            return False
        if within(i.importer, *SQL_ALLOWED_OUTSIDE_WAREHOUSE):
            return False
        return not set(i.names) <= URL_PARSING

    check("SQL engines (sqlalchemy, sqlite3, psycopg, alembic) only in pipelines/warehouse/ "
          "(and models/registry for the MLflow store)", broken)


# -- cycles -------------------------------------------------------------------------------------


def module_graph(deferred: bool = False) -> dict[str, dict[str, Import]]:
    """importer -> {imported: the first import making that edge}, ours only; module-level imports
    only unless ``deferred``."""
    known = modules()
    graph: dict[str, dict[str, Import]] = {name: {} for name in known}
    for i in sorted(imports(), key=lambda i: (i.file, i.line)):
        if (i.module_level or deferred) and i.imported in known and i.imported != i.importer:
            graph[i.importer].setdefault(i.imported, i)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's components with more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def one_cycle(graph: dict[str, dict[str, Import]], component: list[str]) -> list[Import]:
    """A shortest cycle through the component's first module, as the imports that make it."""
    members, start = set(component), component[0]
    previous: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child, edge in sorted(graph[node].items()):
                if child == start:
                    path = [edge]
                    while path[0].importer != start:
                        path.insert(0, previous[path[0].importer])
                    return path
                if child in members and child not in previous:
                    previous[child] = edge
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle found in component {component}")  # Tarjan guarantees one


def cycle_reports(graph: dict[str, dict[str, Import]]) -> list[str]:
    reports = []
    for component in strongly_connected(graph):
        lines = "\n    ".join(str(edge) for edge in one_cycle(graph, component))
        reports.append(f"cycle among {', '.join(component)}:\n    {lines}")
    return reports


def test_no_import_cycles() -> None:
    reports = cycle_reports(module_graph())
    assert not reports, "module-level import cycles:\n  " + "\n  ".join(reports)


def test_no_mutual_dependencies_hidden_in_functions() -> None:
    """A function-level import breaks the import-time cycle but not the dependency loop: the two
    modules still cannot be understood, tested or moved one without the other."""
    reports = cycle_reports(module_graph(deferred=True))
    assert not reports, "import cycles through function-level imports:\n  " + "\n  ".join(
        reports)


def test_cycle_finder_finds_a_cycle() -> None:
    """The cycle check would be useless if the finder missed one: a three-module loop."""
    def edge(a: str, b: str) -> Import:
        return Import(a, b, (b,), f"{a}.py", 1, True)

    graph = {"a": {"b": edge("a", "b")}, "b": {"c": edge("b", "c")}, "c": {"a": edge("c", "a")},
             "d": {"a": edge("d", "a")}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert [e.imported for e in one_cycle(graph, ["a", "b", "c"])] == ["b", "c", "a"]


def test_collector_resolves_relative_deferred_and_type_only_imports() -> None:
    """What counts as module-level and what a relative import names, on a made-up module."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from ..core import settings\n"
        "if TYPE_CHECKING:\n"
        "    import flows.cli\n"
        "class Holder:\n"
        "    import sqlite3\n"
        "def later():\n"
        "    from pipelines.warehouse import history\n")
    known = {"pipelines.scoring.run", "pipelines.scoring.sibling", "pipelines.core.settings",
             "pipelines.warehouse", "pipelines.warehouse.history"}
    path = ROOT / "pipelines" / "scoring" / "run.py"  # only its name is used: nothing is read
    collector = _Collector("pipelines.scoring.run", path, False, known)
    collector.visit(ast.parse(source))
    got = {(i.imported, i.module_level) for i in collector.found}
    assert got == {("typing", True), ("pipelines.scoring.sibling", True),
                   ("pipelines.core.settings", True), ("flows.cli", False), ("sqlite3", True),
                   ("pipelines.warehouse.history", False)}
