"""Internal records handed between the tasks of one worker before they are committed.

A worker that owns every partition of a local log (the embedded log, or TestDriver with one
worker) holds both ends of every internal topic, and its commits are atomic: the records a
task writes to an internal topic, the positions of the task that reads them, and both tasks'
state go into one write. So the reader need not wait for the commit: the exchange numbers
the records as the log will (the partition's end plus what is pending), queues them straight
into the reader's lanes, and tells the reader each writer's bound at once. A foreign-key
round trip, or a chain of key_bys, then costs a few calls instead of a commit per hop.
The records are written by the next commit, before anything else of that commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine.api import TopicPartition
from engine.api.records import OutRecord
from engine.runtime.task import Task
from engine.transport.base import Consumer, Routed


class Exchange:
    """What the tasks of one worker wrote to internal topics since the last commit."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.pending: dict[TopicPartition, list[OutRecord]] = {}
        self.told: dict[tuple[Task, str, int], tuple[int, int, int]] = {}

    def hand_over(self, tasks: Iterable[Task], routes: Mapping[TopicPartition, Task]
                  ) -> set[Task]:
        """Queue what `tasks` wrote to internal topics in its readers' lanes and tell them the
        writers' bounds (when they changed); returns the readers that got anything new."""
        tasks = list(tasks)
        ends: dict[TopicPartition, int] | None = None
        moved: set[Task] = set()
        for writer in tasks:
            for topic, p, records in writer.outputs.flush_internal():
                assert p is not None, "internal records are routed by their writer"
                tp = (topic, p)
                pending = self.pending.setdefault(tp, [])
                ends = ends or self.consumer.ends()
                first = ends[tp] + len(pending)
                pending.extend(records)
                reader = routes[tp]
                if reader.fetched.get(tp) != first:
                    continue  # it has not read up to here: it reads them after the commit
                reader.enqueue(tp, [(first + i, k, v, ts, hd)
                                    for i, (k, v, ts, hd) in enumerate(records)])
                self.consumer.seek(tp, first + len(records))
                moved.add(reader)
        for writer in tasks:
            for topic, (bound, flags) in writer.promise().items():
                for p, seq in enumerate(writer.outputs.last_seqs(topic)):
                    said = (bound, flags, seq)
                    if self.told.get((writer, topic, p)) == said:
                        continue
                    reader = routes[(topic, p)]
                    heard = reader.tell((topic, p), writer.partition, seq, bound, flags)
                    if heard is not None:
                        self.told[(writer, topic, p)] = said
                    if heard:
                        moved.add(reader)
        return moved

    def take(self) -> list[Routed]:
        """The records handed over since the last commit, for the commit to write first."""
        out: list[Routed] = [(topic, p, records) for (topic, p), records in self.pending.items()
                             if records]
        self.pending = {}
        return out

