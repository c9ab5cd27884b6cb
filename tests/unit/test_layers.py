"""The import rules of design.md §2, checked on the source tree: direct imports per layer,
what importing a lower layer loads in a fresh interpreter, and no import cycles."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("engine", "operators", "apps")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path) -> set[str]:
    """Modules `path` imports when it runs (anywhere, also inside functions), except under
    `if TYPE_CHECKING:`; `from a import b` names a.b too when that is a module."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = {id(n) for block in ast.walk(tree) if _type_checking(block)
               for n in ast.walk(block)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports."""
    files = {_module_name(p): p for top in PROJECT for p in (ROOT / top).rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name}
            for name, path in files.items()}


def _modules(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in (ROOT / folder).rglob("*.py")}


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{path} imports {name}" for path, names in _modules(folder).items()
                  for name in names if name.startswith(forbidden))


def test_operators_import_only_the_api() -> None:
    assert _offenders("operators", ("engine.runtime", "engine.state", "engine.transport",
                                    "engine.planner", "engine.cli", "engine.dsl",
                                    "engine.query", "engine.physical")) == []


def test_api_imports_nothing_of_ours() -> None:
    assert _offenders("engine/api", ("engine.dsl", "engine.planner", "engine.runtime",
                                     "engine.state", "engine.transport", "engine.query",
                                     "operators")) == []


def test_transports_import_no_operators_state_or_runtime() -> None:
    assert _offenders("engine/transport", ("operators", "engine.state", "engine.runtime",
                                           "engine.planner", "engine.dsl", "engine.query")) == []


def test_runtime_never_imports_operators_or_a_concrete_log() -> None:
    assert _offenders("engine/runtime", ("operators", "engine.transport.embedded",
                                         "engine.transport.kafka", "rocksdict",
                                         "engine.dsl", "engine.planner", "engine.query")) == []


def test_query_reads_tables_without_the_dsl_planner_or_runtime() -> None:
    assert _offenders("engine/query", ("operators", "engine.dsl", "engine.planner",
                                       "engine.runtime")) == []


def test_rocksdict_and_aiokafka_stay_in_their_modules() -> None:
    everything = {**_modules("engine"), **_modules("operators"), **_modules("apps")}
    rocks = sorted(p for p, names in everything.items() if "rocksdict" in names)
    kafka = sorted(p for p, names in everything.items() if any(n.startswith("aiokafka")
                                                                for n in names))
    assert rocks and all(p.startswith(("engine/state/", "engine/transport/embedded"))
                         for p in rocks), rocks
    assert all(p.startswith("engine/transport/kafka") for p in kafka)


def test_apps_use_only_the_public_api() -> None:
    assert _offenders("apps", ("engine.runtime", "engine.state", "engine.transport",
                                "engine.planner", "engine.api", "engine.dsl")) == []


@pytest.mark.parametrize("layer", ["engine.runtime", "engine.state", "engine.transport",
                                   "engine.query", "engine.physical", "engine.api"])
def test_a_lower_layer_loads_no_dsl_planner_or_operator(layer: str) -> None:
    """Import every module of `layer` in a fresh interpreter; what got loaded (transitively,
    package __init__ files included) holds nothing above it."""
    modules = sorted(m for m in _graph() if m == layer or m.startswith(layer + "."))
    script = ("import importlib, json, sys\n"
              f"for m in {modules!r}: importlib.import_module(m)\n"
              "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout)
    above = [m for m in loaded if m.startswith(("operators", "engine.dsl", "engine.planner",
                                                "engine.cli", "engine.app", "apps"))]
    assert above == [], f"importing {layer} loads {above}"


def test_no_import_cycles() -> None:
    """No module reaches itself through the imports of project modules (Tarjan's strongly
    connected components; a package's __init__ counts as the module it is)."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []
