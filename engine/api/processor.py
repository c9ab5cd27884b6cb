"""The processor contract: what a task runs for every stateful node, and what it gets.

A `ProcessorNode` (engine/api/nodes.py) builds one `Processor` per task. The task pushes
records through `process` in the task's deterministic order and calls the other hooks at
commits, on wall-clock idleness and at the end of a drained input; a processor overrides
the hooks it needs. Results go downstream through the `Emit` it was built with (None when
nothing is downstream, so a table read only by queries costs no call per record).
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from engine.api.state import KeyValueStore


class Emit(Protocol):
    """Hands a result downstream. `expired=True` marks results a processor emits because
    time passed (a window closing, an unmatched join row), not because of the record it is
    processing: a failure downstream of such a result is not blamed on that record."""

    def __call__(self, key: bytes | None, value: Any, ts: int, expired: bool = False
                 ) -> None: ...


class WindowResult(msgspec.Struct, frozen=True):
    """The value of one key in one window, as windowed tables emit it."""

    key: str | None
    start: int
    end: int
    value: Any


class ProcessorContext(Protocol):
    """What a task gives a processor: its partition, its stores and the global tables."""

    @property
    def partition(self) -> int: ...

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

    @property
    def key_type(self) -> str: ...

    def row(self, key: bytes | None, raw: bytes | None) -> tuple[bytes, Any] | None:
        """(row key, value or None to delete) for one record; None to skip it."""
        ...


def require_key(key: bytes | None, what: str) -> bytes:
    """`key`, or a clear error for a record without one (dead-lettered by the caller)."""
    if key is None:
        raise ValueError(f"{what} needs a key; this record has none")
    return key


def require_value(value: Any, what: str) -> Any:
    """`value`, or a clear error for a null value where None means "no partner" (joins;
    Kafka Streams drops such records, Shoal dead-letters them so they stay visible)."""
    if value is None:
        raise ValueError(f"{what} needs a value; this record's is null (None stands for a "
                         "missing partner)")
    return value


class Processor:
    """Handles a task's records for one node. `side` says which input of a two-input node
    (a join) a record comes from; one-input processors ignore it."""

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        """Handle one record (raise LateRecord for a record too late to count)."""
        raise NotImplementedError

    def before_commit(self) -> None:
        """Write what must be durable with the coming commit (e.g. stream time)."""

    def idle(self, elapsed_ms: int) -> None:
        """No input for `elapsed_ms` of wall-clock time: move stream time that far past the
        last record's, closing (and emitting) what is due."""

    def finish(self) -> None:
        """The input ended (a drained run): emit every result still pending (open windows and
        sessions, unmatched join rows) as final; later input falling into them is late."""

    def lateness(self) -> tuple[int, int, int]:
        """(records seen, records late, grace in ms that would have kept every late one);
        (0, 0, 0) for processors that never drop late records."""
        return 0, 0, 0
