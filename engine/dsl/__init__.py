"""Pipeline and Stream: the DSL that builds a logical graph."""

from engine.dsl.pipeline import ERROR_POLICIES, ErrorPolicy, Pipeline, Stream, check_topic

__all__ = ["ERROR_POLICIES", "ErrorPolicy", "Pipeline", "Stream", "check_topic"]
