"""The planner: pure passes from a logical graph to a printable physical plan."""

from engine.plan.passes import plan
from engine.plan.physical import InternalTopic, PhysicalPlan, SubTopology

__all__ = ["InternalTopic", "PhysicalPlan", "SubTopology", "plan"]
