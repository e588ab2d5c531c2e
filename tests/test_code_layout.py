"""How the code is laid out (DEVELOPERS.md): no import cycles in the product package (lazy
imports inside functions count; imports for type checkers do not), modules small and named after
what they hold (none over ~400 lines, no utils.py), the bench and test helpers outside it, and
every INSERT of the hot path tied to its model's columns."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "workflows")
MAX_LINES = 420  # "~400"
# The initial migration is Alembic's generated schema, not a module anyone edits.
LONG_ALLOWED = {"service/migrations/versions/0001_initial_schema.py"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            candidates = [base, *(f"{base}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        # a package's own __init__ (every `from service import x` loads it) is not a dependency
        found |= {c for c in candidates if c in modules and c != name and c not in PACKAGES}
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_in_the_product() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []
    # the cycle checker itself finds a cycle when there is one
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_the_engine_imports_nothing_above_it() -> None:
    """Its helpers (notify, the procedures' namespaces) are injected by the bootstrap."""
    modules = _modules()
    for name in [m for m in modules if m.startswith("service.engine")]:
        above = {m for m in _imports(name, modules[name], modules)
                 if not m.startswith("service.engine") and m not in {"service.clock", "service.calendar",
                                                                      "service.holiday_notice",
                                                                      "service.provisional_holidays"}}
        assert above == set(), name


def test_modules_are_small_and_named_after_what_they_hold() -> None:
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            assert path.stem not in {"utils", "util", "helpers", "misc"}, relative
            if relative in LONG_ALLOWED:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines <= MAX_LINES, f"{relative} has {lines} lines"


def test_bench_and_test_helpers_live_outside_the_product() -> None:
    assert not (ROOT / "service" / "bench.py").exists() and not (ROOT / "service" / "pgtemp.py").exists()
    assert (ROOT / "bench" / "__init__.py").is_file() and (ROOT / "testing" / "pgtemp.py").is_file()


def test_a_model_column_cannot_be_left_out_of_the_hot_path_inserts() -> None:
    from service.store import statements
    from service.store.models import Instance

    every = {c.name for c in Instance.__table__.columns}
    written = statements.NEW_CASE.split("(", 1)[1].split(")", 1)[0].split(", ")
    assert every - set(written) == {"id", "error", "error_at", "listed_at", "history_seq", "history_head"}
    with pytest.raises(RuntimeError, match="listed_at"):
        statements.insert(Instance, statements.params("definition_id process_key business_key"),
                          defaulted=("id",))
