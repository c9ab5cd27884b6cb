"""A task: one partition of one sub-topology, with its output buffers and positions."""

from __future__ import annotations

from engine.api import OutRecord, TopicPartition
from engine.plan import SubTopology
from engine.runtime.deadletter import DeadLetters
from engine.transport import RecordTuple


class Task:
    """Runs a sub-topology's fused chains over batches of one partition's records."""

    def __init__(self, sub: SubTopology, partition: int, policy: str) -> None:
        self.sub = sub
        self.partition = partition
        self.buffers: list[list[OutRecord]] = [[] for _ in sub.outputs]
        self.dead = DeadLetters(policy, sub.stages, [])
        self.runs = sub.factory(self.buffers, self.dead)
        self.positions: dict[TopicPartition, int] = {}
        self.pending = 0

    @property
    def id(self) -> str:
        """Task id as Kafka Streams writes it: `<sub-topology>_<partition>`."""
        return f"{self.sub.id}_{self.partition}"

    def process(self, tp: TopicPartition, records: list[RecordTuple]) -> None:
        """Push one batch of `tp` through the chain; outputs stay buffered until commit."""
        self.runs[tp[0]](records, tp[1])
        self.positions[tp] = records[-1][0] + 1
        self.pending += len(records)

    def drain(self, dead_letter_topic: str) -> list[tuple[str, list[OutRecord]]]:
        """Take the buffered outputs (and dead letters) for a commit."""
        outputs: list[tuple[str, list[OutRecord]]] = []
        for (topic, _), buf in zip(self.sub.outputs, self.buffers, strict=True):
            if buf:
                outputs.append((topic, buf[:]))
                buf.clear()
        if self.dead.records:
            outputs.append((dead_letter_topic, self.dead.records[:]))
            self.dead.records.clear()
        self.pending = 0
        return outputs
