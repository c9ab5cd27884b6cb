"""Shoal's public contracts: records, errors, serde and the node/codegen protocol."""

from engine.api import aggregators, windows
from engine.api.codegen import CodeWriter, FuseContext
from engine.api.errors import (
    ConfigError,
    LogBusy,
    PipelineFailed,
    PlanError,
    ShoalError,
    TransportError,
    UnknownTopicError,
)
from engine.api.nodes import Node, callable_name
from engine.api.records import Headers, OutRecord, Record, TopicPartition

__all__ = [
    "CodeWriter",
    "ConfigError",
    "FuseContext",
    "Headers",
    "LogBusy",
    "Node",
    "OutRecord",
    "PipelineFailed",
    "PlanError",
    "Record",
    "ShoalError",
    "TopicPartition",
    "TransportError",
    "UnknownTopicError",
    "aggregators",
    "callable_name",
    "windows",
]
