"""`from engine.aggregators import Aggregator, top_n, ...`: the aggregations of
engine/api/aggregators.py under the public package."""

from __future__ import annotations

from engine.api.aggregators import (
    Aggregator,
    Field,
    collect,
    count,
    max_by,
    max_of,
    mean_of,
    min_by,
    min_of,
    reduce,
    sum_of,
    top_n,
)

__all__ = ["Aggregator", "Field", "collect", "count", "max_by", "max_of", "mean_of", "min_by",
           "min_of", "reduce", "sum_of", "top_n"]
