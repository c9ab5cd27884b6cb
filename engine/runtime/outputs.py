"""A task's output buffers, and what a commit writes from them.

Sink records go out as they are (the log routes them by key). Records of internal topics are
routed here, numbered per topic partition (the writer's sequence: readers drop a replayed
number) and stamped with their order time; then, per partition, a control record promises
the writer's bound for its next records there when that bound rose without a record
carrying it, or says that the writer is idle or ended. On a log without exactly-once
commits (Kafka), sink records are numbered too, for consumers that want to drop replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.api.records import MARK, Headers, OutRecord, seq_header
from engine.transport.partitioner import Partitioner

Routed = tuple[str, int | None, list[OutRecord]]
NEVER = -(1 << 62)


@dataclass
class Told:
    """What one output partition's readers know of this writer."""

    seq: int = -1  # last sequence number written
    bound: int = NEVER  # last order time promised (by a record or a control record)
    flags: int = 0  # IDLE or END, once said


class Outputs:
    """Per output topic of a task: its buffer, and per partition what readers were told."""

    def __init__(self, outputs: tuple[tuple[str, str], ...], counts: Mapping[str, int],
                 writer: int, partitioner: Partitioner, number_sinks: bool) -> None:
        self.topics = outputs
        self.buffers: list[list[Any]] = [[] for _ in outputs]
        self.writer, self.partitioner, self.number_sinks = writer, partitioner, number_sinks
        self.counts = {topic: counts[topic] for topic, _ in outputs}
        self.told: dict[str, list[Told]] = {
            topic: [Told() for _ in range(self.counts[topic])] for topic, kind in outputs
            if kind == "internal" or number_sinks}

    @property
    def pending(self) -> bool:
        """True when records wait for a commit."""
        return any(self.buffers)

    def drain(self, bounds: dict[str, tuple[int, int]]) -> list[Routed]:
        """Every buffered record as it is to be written, then the control records for
        `bounds` (internal topic -> (bound of the next order time, IDLE/END flags))."""
        out: list[Routed] = []
        for (topic, kind), buffer in zip(self.topics, self.buffers, strict=True):
            if kind == "internal":
                out.extend(self._sequenced(topic, buffer))
            elif buffer:
                out.extend(self._sequenced(topic, buffer) if self.number_sinks
                           else [(topic, None, buffer[:])])
            buffer.clear()
        for topic, (bound, flags) in bounds.items():
            marks = self._marks(topic, bound, flags)
            if marks:
                out.extend((topic, p, [mark]) for p, mark in marks)
        return out

    def flush_internal(self) -> list[Routed]:
        """The buffered records of internal topics, routed and numbered now (to hand them
        to readers before the commit; see engine/runtime/exchange.py)."""
        out: list[Routed] = []
        for (topic, kind), buffer in zip(self.topics, self.buffers, strict=True):
            if kind == "internal" and buffer:
                out.extend(self._sequenced(topic, buffer))
                buffer.clear()
        return out

    def last_seqs(self, topic: str) -> list[int]:
        """The last sequence number written to each partition of `topic`."""
        return [t.seq for t in self.told[topic]]

    def _sequenced(self, topic: str, buffer: list[Any]) -> list[Routed]:
        """Route, number and stamp records (internal: (k, v, ts, hd, ot); sinks: (k, v, ts,
        hd), numbered with the order time unknown)."""
        count, told, writer = self.counts[topic], self.told[topic], self.writer
        by_partition: dict[int, list[OutRecord]] = {}
        hash_of = self.partitioner.hash
        for record in buffer:
            key = record[0]
            p = 0 if key is None or count == 1 else hash_of(key) % count
            state = told[p]
            state.seq += 1
            ot = record[4] if len(record) > 4 else state.bound
            if ot > state.bound:
                state.bound = ot
            state.flags = 0
            headers: Headers = [seq_header(writer, state.seq, ot), *(record[3] or ())]
            by_partition.setdefault(p, []).append((key, record[1], record[2], headers))
        return [(topic, p, records) for p, records in sorted(by_partition.items())]

    def news(self, bounds: dict[str, tuple[int, int]]) -> bool:
        """True when `bounds` would make a control record (readers must hear them)."""
        for topic, (bound, flags) in bounds.items():
            for state in self.told[topic]:
                if (state.flags & flags != flags) if flags else (
                        state.flags or bound > state.bound):
                    return True
        return False

    def _marks(self, topic: str, bound: int, flags: int) -> list[tuple[int, OutRecord]]:
        """Control records for the partitions whose readers must hear `bound`/`flags`."""
        out: list[tuple[int, OutRecord]] = []
        for p, state in enumerate(self.told[topic]):
            if flags:
                if state.flags & flags == flags:
                    continue
                state.flags |= flags
            elif state.flags:  # idle before, active again
                state.flags = 0
            elif bound <= state.bound:
                continue
            state.bound = max(state.bound, bound)
            header = seq_header(self.writer, state.seq, state.bound, MARK | flags)
            out.append((p, (None, None, max(state.bound, 0), [header])))
        return out

    def state(self) -> dict[str, list[list[int]]]:
        """What readers were told, for the task's progress record."""
        return {topic: [[t.seq, t.bound, t.flags] for t in told]
                for topic, told in self.told.items()}

    def restore(self, saved: dict[str, list[list[int]]]) -> None:
        """Continue from a committed progress record."""
        for topic, told in saved.items():
            if topic in self.told and len(told) == len(self.told[topic]):
                self.told[topic] = [Told(*t) for t in told]

