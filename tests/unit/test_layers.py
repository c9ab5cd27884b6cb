"""The import rules of design.md §2, checked on the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in (ROOT / folder).rglob("*.py")}


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{path} imports {name}" for path, names in _modules(folder).items()
                  for name in names if name.startswith(forbidden))


def test_operators_import_only_the_api() -> None:
    assert _offenders("operators", ("engine.runtime", "engine.state", "engine.transport",
                                    "engine.plan", "engine.cli", "engine.dsl")) == []


def test_api_imports_nothing_of_ours() -> None:
    assert _offenders("engine/api", ("engine.dsl", "engine.plan", "engine.runtime",
                                     "engine.state", "engine.transport", "operators")) == []


def test_transports_import_no_operators_state_or_runtime() -> None:
    assert _offenders("engine/transport", ("operators", "engine.state", "engine.runtime",
                                           "engine.plan", "engine.dsl")) == []


def test_runtime_never_imports_operators_or_a_concrete_log() -> None:
    assert _offenders("engine/runtime", ("operators", "engine.transport.embedded",
                                         "engine.transport.kafka", "rocksdict")) == []


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
                                "engine.plan", "engine.api", "engine.dsl")) == []
