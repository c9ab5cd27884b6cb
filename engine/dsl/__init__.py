"""Pipeline and Stream: the DSL that builds a logical graph."""

from engine.dsl.checks import check_topic
from engine.dsl.pipeline import ERROR_POLICIES, ErrorPolicy, Pipeline, Stream
from engine.dsl.table import GlobalTable, Table, WindowedStream

__all__ = ["ERROR_POLICIES", "ErrorPolicy", "GlobalTable", "Pipeline", "Stream", "Table",
           "WindowedStream", "check_topic"]
