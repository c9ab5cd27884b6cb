"""The planner: pure passes from a logical graph to a printable physical plan."""

from engine.physical import InternalTopic, PhysicalPlan, SubTopology
from engine.planner.passes import plan

__all__ = ["InternalTopic", "PhysicalPlan", "SubTopology", "plan"]
