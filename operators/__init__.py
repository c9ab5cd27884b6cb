"""Operator declarations and implementations. Imports engine.api only."""

from operators.source import Source
from operators.stateless import (
    Branch,
    BranchArm,
    Filter,
    FlatMap,
    KeyBy,
    Map,
    Merge,
    Repartition,
    Sink,
)

__all__ = ["Branch", "BranchArm", "Filter", "FlatMap", "KeyBy", "Map", "Merge", "Repartition",
           "Sink", "Source"]
