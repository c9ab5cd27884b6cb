"""The logical graph's node type. Nodes are immutable and carry their own code.

A node's `fuse` writes the per-record code of a stateless operator; stateful operators
(next issues) add a processor factory. The runtime never imports `operators`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.api.codegen import FuseContext


@dataclass(frozen=True, slots=True)
class Node:
    """One operator of a pipeline's logical graph."""

    id: int
    name: str
    parents: tuple[int, ...]
    pipeline: str = field(default="", kw_only=True)

    @property
    def kind(self) -> str:
        """Short operator kind shown in plans."""
        return type(self).__name__.lower()

    def fuse(self, ctx: FuseContext, var: str) -> str:
        """Write this operator's per-record code reading `var`; return the output variable."""
        raise NotImplementedError(f"{self.kind} cannot be fused")

    def describe(self) -> dict[str, Any]:
        """Extra facts for `shoal describe`."""
        return {}

    @property
    def repartitions(self) -> bool:
        """True when this node ends a sub-topology by writing a repartition topic."""
        return False

    @property
    def copartitioned(self) -> bool:
        """True when all inputs of this node's task must have the same partitions (joins)."""
        return False

    @property
    def links(self) -> tuple[int, ...]:
        """Nodes (besides parents) this node must share a task with, e.g. a joined table."""
        return ()

    @property
    def keyed(self) -> bool | None:
        """Whether the output is keyed; None means 'same as the input'."""
        return None


def callable_name(fn: Any) -> str:
    """A readable name of a user function for plans and error headers."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return str(name) if name else type(fn).__name__
