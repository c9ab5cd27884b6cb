"""Event-time order across a task's inputs (timestamp synchronization, as Kafka Streams does).

A task with several input partitions (a join, a merge) must not run one input's whole batch
ahead of another's: stream time would jump and the other side's records would turn late.
Records wait in per-partition queues and leave in runs, smallest record timestamp first
(record timestamps are event times: sinks and repartitions write them, and `shoal produce
--time FIELD` sets them). The task waits while an input that delivered records this poll
round has run dry (more may come); inputs that delivered nothing are not waited for. Across
tasks, the worker always lets the task with the oldest next record take the next small slice,
so tasks do not drift apart in event time and a repartition topic they all write stays close
to time order.
"""

from __future__ import annotations

from collections import deque

from engine.api import TopicPartition
from engine.transport import RecordTuple


class InputQueues:
    """Per-partition queues of one task."""

    def __init__(self) -> None:
        self.queues: dict[TopicPartition, deque[RecordTuple]] = {}
        self.last: dict[TopicPartition, int] = {}

    def add(self, tp: TopicPartition, records: list[RecordTuple]) -> None:
        """Queue a fetched batch."""
        self.queues.setdefault(tp, deque()).extend(records)

    def stalled_at(self, waiting: set[TopicPartition]) -> int | None:
        """Time of the last record run from an input that is waiting for more (nothing
        newer may run anywhere until it catches up); None when no input is waiting."""
        stalls = [self.last[tp] for tp in waiting
                  if tp in self.queues and not self.queues[tp] and tp in self.last]
        return min(stalls) if stalls else None

    def head(self, waiting: set[TopicPartition]) -> int | None:
        """Timestamp of the next record to run, or None when empty or waiting for input."""
        queues = self.queues
        if any(not queues[tp] for tp in waiting if tp in queues):
            return None
        heads = [q[0][3] for q in queues.values() if q]
        return min(heads) if heads else None

    def take(self, waiting: set[TopicPartition], limit: int, horizon: int | None = None
             ) -> list[tuple[TopicPartition, list[RecordTuple]]]:
        """Up to `limit` records (none newer than `horizon`) as runs of one partition each,
        smallest event time first; stops early when an input in `waiting` has nothing
        queued."""
        queues, taken, out = self.queues, 0, []
        while taken < limit:
            heads = [(q[0][3], tp) for tp, q in queues.items() if q]
            if not heads or any(not queues[tp] for tp in waiting if tp in queues):
                break
            first, tp = min(heads)
            if horizon is not None and first > horizon:
                break
            others = [ts for ts, other in heads if other != tp]
            if horizon is not None:
                others.append(horizon)
            bound = min(others) if others else None
            queue, run = queues[tp], []
            while queue and taken < limit and (bound is None or queue[0][3] <= bound):
                run.append(queue.popleft())
                taken += 1
            self.last[tp] = run[-1][3]
            out.append((tp, run))
        return out

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())
