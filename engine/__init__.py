"""Shoal: stateful stream processing for Python.

Public API: `Pipeline` (build a pipeline), `windows`, `aggregators` and `Aggregator` (for
tables), `plan` (compile it), `App` (run it and query its tables from Python), `ShoalError`
and its kin.

The names are loaded on first use, so that importing a lower layer (`engine.runtime`,
`engine.transport`, ...) does not load the DSL, the planner and every operator.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.api import (
        ConfigError,
        PipelineFailed,
        PlanError,
        ShoalError,
        aggregators,
        windows,
    )
    from engine.api.aggregators import Aggregator
    from engine.api.processor import WindowResult
    from engine.app import App, produce
    from engine.dsl import GlobalTable, Pipeline, Stream, Table
    from engine.planner import plan

_WHERE = {
    "ConfigError": "engine.api", "PipelineFailed": "engine.api", "PlanError": "engine.api",
    "ShoalError": "engine.api", "aggregators": "engine.api", "windows": "engine.api",
    "WindowResult": "engine.api.processor", "GlobalTable": "engine.dsl",
    "Pipeline": "engine.dsl", "Stream": "engine.dsl", "Table": "engine.dsl",
    "plan": "engine.planner", "Aggregator": "engine.api.aggregators", "App": "engine.app",
    "produce": "engine.app",
}

__all__ = ["Aggregator", "App", "ConfigError", "GlobalTable", "Pipeline", "PipelineFailed",
           "PlanError", "ShoalError", "Stream", "Table", "WindowResult", "aggregators", "plan",
           "produce", "windows"]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
