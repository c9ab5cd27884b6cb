"""A small writer for generated Python source, used to fuse stateless operator chains.

Operators describe their per-record work as a few lines of code through this writer; the
planner stitches those fragments into one loop per source, so a chain of N stateless
operators costs one loop and no per-operator call stack.
"""

from __future__ import annotations

from typing import Any


class CodeWriter:
    """Accumulates indented lines and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0
        self.constants: dict[str, Any] = {}
        self._counter = 0

    def line(self, text: str) -> None:
        """Append one line at the current indentation."""
        self.lines.append("    " * self.level + text)

    def open(self, header: str) -> None:
        """Append a block header (`if ...:`, `for ...:`) and indent what follows."""
        self.line(header)
        self.level += 1

    def fresh(self, prefix: str) -> str:
        """A new local variable name."""
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def const(self, value: Any, prefix: str = "c") -> str:
        """Make `value` visible to the generated code; returns the name to use."""
        for name, existing in self.constants.items():
            if existing is value:
                return name
        name = f"_{prefix}{len(self.constants)}"
        self.constants[name] = value
        return name

    def source(self) -> str:
        """The generated source text."""
        return "\n".join(self.lines) + "\n"


class FuseContext:
    """What an operator fragment may use besides the writer: buffers and error stages."""

    def __init__(self, writer: CodeWriter) -> None:
        self.w = writer
        self.stages: list[tuple[str, str]] = []
        self.buffers: list[tuple[str, str]] = []
        self.came_from: int | None = None  # the parent whose output the next node reads

    def stage(self, kind: str, operator: str) -> None:
        """Mark the following lines as operator `operator` for dead-letter headers."""
        self.stages.append((kind, operator))
        self.w.line(f"op = {len(self.stages) - 1}")

    def buffer(self, topic: str, kind: str) -> str:
        """Local name of the output list for `topic` (kind: 'sink' or 'repartition')."""
        for index, (existing, _) in enumerate(self.buffers):
            if existing == topic:
                return f"out_{index}"
        self.buffers.append((topic, kind))
        return f"out_{len(self.buffers) - 1}"
