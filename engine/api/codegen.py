"""A small writer for generated Python source, used to fuse operator chains.

Operators describe their per-record work as a few lines of code through this writer; the
planner stitches those fragments into one loop per source, so a chain of N stateless
operators costs one loop and no per-operator call stack. Blocks are written with
`with w.block("if ...:"):`, so indentation follows the structure of the code that writes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine.api.codec import Codec


class CodeWriter:
    """Accumulates indented lines and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._level = 0
        self._counter = 0

    def line(self, text: str) -> None:
        """Append one line at the current indentation."""
        self.lines.append("    " * self._level + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        """`header` (`if ...:`, `for ...:`, `def ...:`) with the lines written inside the
        `with` indented under it."""
        self.line(header)
        self._level += 1
        try:
            yield
        finally:
            self._level -= 1

    @contextmanager
    def blocks(self, headers: tuple[str, ...]) -> Iterator[None]:
        """Several nested blocks, outermost first."""
        if not headers:
            yield
            return
        with self.block(headers[0]), self.blocks(headers[1:]):
            yield

    def mark(self) -> int:
        """A position to test later with `wrote_since`."""
        return len(self.lines)

    def wrote_since(self, mark: int) -> bool:
        """True when lines were written after `mark`."""
        return len(self.lines) > mark

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


@dataclass(frozen=True)
class Fused:
    """What a node's fused code hands on to its children: the variable holding its output
    (None: the chain ends here, a processor's emit function carries on) and the block headers
    (a filter's `if`, a flat_map's `for`) that everything downstream is nested in."""

    var: str | None
    blocks: tuple[str, ...] = ()


class FuseContext:
    """What an operator fragment may use besides the writer: buffers and error stages."""

    def __init__(self, writer: CodeWriter, codec: Codec | None = None) -> None:
        self.w = writer
        self.codec = codec or Codec()  # how values cross internal topics
        # what an output record carries as headers: the input record's (`hd`, in the run
        # loop) or none (results of processors, or a pipeline that drops headers)
        self.headers = "None"
        self.stages: list[tuple[str, str]] = []
        self.buffers: list[tuple[str, str]] = []

    def stage(self, kind: str, operator: str) -> None:
        """Mark the following lines as stage `kind` of `operator` for dead-letter headers."""
        self.stages.append((kind, operator))
        self.w.line(f"op = {len(self.stages) - 1}")

    def buffer(self, topic: str, kind: str) -> str:
        """Local name of the output list's append for `topic` (kind: 'sink' or 'internal')."""
        for index, (existing, _) in enumerate(self.buffers):
            if existing == topic:
                return f"out_{index}"
        self.buffers.append((topic, kind))
        return f"out_{len(self.buffers) - 1}"
