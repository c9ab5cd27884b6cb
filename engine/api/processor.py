"""The processor contract of stateful operators, and the record types they emit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from engine.api.state import KeyValueStore

Emit = Callable[[bytes | None, Any, int], None]


class WindowResult(msgspec.Struct, frozen=True):
    """The value of one key in one window, as windowed tables emit it."""

    key: str | None
    start: int
    end: int
    value: Any


class ProcessorContext(Protocol):
    """What a task gives a processor: its partition, its stores and the global tables."""

    partition: int

    def store(self, name: str) -> KeyValueStore: ...

    def global_table(self, name: str) -> KeyValueStore:
        """The worker's full copy of global table `name` (read it; it is not yours)."""
        ...


class GlobalTableSpec(Protocol):
    """How the runtime fills a global table from its topic."""

    @property
    def name(self) -> str: ...

    @property
    def topic(self) -> str: ...

    def row(self, key: bytes | None, raw: bytes | None) -> tuple[bytes, Any] | None:
        """(row key, value or None to delete) for one record; None to skip it."""
        ...


class Processor(Protocol):
    """Handles one record at a time; emits downstream through the `emit` it was built with."""

    def process(self, key: bytes | None, value: Any, ts: int) -> None: ...


class TimeDriven(Protocol):
    """A processor with a stream time: persisted by `before_commit` (called by its task just
    before the commit flushes stores), moved on by wall-clock time on a quiet partition."""

    def before_commit(self) -> None:
        """Write what must be durable with this commit (e.g. stream time) to the stores."""
        ...

    def idle(self, elapsed_ms: int) -> None:
        """No input for `elapsed_ms` of wall-clock time: advance stream time that far past
        the last record's, closing (and emitting) windows that are due."""
        ...


ProcessorFactory = Callable[[ProcessorContext, Emit], Processor]
