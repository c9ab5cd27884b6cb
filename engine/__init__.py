"""Shoal: stateful stream processing for Python.

Public API: `Pipeline` (build a pipeline), `plan` (compile it), `ShoalError` and its kin.
"""

from engine.api import ConfigError, PipelineFailed, PlanError, ShoalError
from engine.dsl import Pipeline, Stream
from engine.plan import plan

__all__ = ["ConfigError", "Pipeline", "PipelineFailed", "PlanError", "ShoalError", "Stream", "plan"]
