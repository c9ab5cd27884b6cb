"""The commit procedure: the one place where work becomes durable."""

from __future__ import annotations

from collections.abc import Iterable

from engine.runtime.task import Task
from engine.transport import CommitBatch, Transport


async def commit(tasks: Iterable[Task], transport: Transport, group: str,
                 dead_letter_topic: str) -> CommitBatch:
    """Commit everything the tasks processed since the last commit.

    1. Drain each task's buffers: sink and repartition outputs, then dead letters, in the
       order they were produced, and the next offset of every input partition it read.
    2. Flush each task's stores: their dirty cache entries join the same batch.
    3. Hand the batch to the log in one call. The embedded log writes outputs, end offsets
       and the group's positions as one RocksDB WriteBatch, so a crash at any instant leaves
       either all of it or none; a Kafka log produces, awaits every ack, then commits offsets.
    4. Return the batch (for counting) only after the log accepted it.
    A failure at step 3 raises: the caller stops, and a restart replays from the last commit.
    """
    batch = CommitBatch()
    for task in tasks:
        batch.outputs.extend(task.drain(dead_letter_topic))
        batch.state.extend(task.flush_state())
        batch.positions.update(task.positions)
    if batch.outputs or batch.positions or batch.state:
        await transport.commit(group, batch)
    return batch
