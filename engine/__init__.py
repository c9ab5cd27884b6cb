"""Shoal: stateful stream processing for Python.

Public API: `Pipeline` (build a pipeline), `windows` and `aggregators` (for tables),
`plan` (compile it), `ShoalError` and its kin.
"""

from engine.api import ConfigError, PipelineFailed, PlanError, ShoalError, aggregators, windows
from engine.api.processor import WindowResult
from engine.dsl import GlobalTable, Pipeline, Stream, Table
from engine.plan import plan

__all__ = ["ConfigError", "GlobalTable", "Pipeline", "PipelineFailed", "PlanError",
           "ShoalError", "Stream", "Table", "WindowResult", "aggregators", "plan", "windows"]
