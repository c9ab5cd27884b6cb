"""The commit procedure: the one place where work becomes durable."""

from __future__ import annotations

from collections.abc import Iterable

from engine.runtime.buffers import OutputBuffers
from engine.runtime.task import Task
from engine.transport import CommitBatch, Transport


async def commit(tasks: Iterable[Task], outputs: OutputBuffers, transport: Transport,
                 group: str) -> CommitBatch:
    """Commit everything the tasks processed since the last commit.

    1. Drain the worker's output buffers (sinks, repartition topics, dead letters; one per
       topic, shared by all tasks, in the order records were produced) and take the next
       offset of every input partition each task read.
    2. Flush each task's stores: their dirty cache entries join the same batch.
    3. Hand the batch to the log in one call. The embedded log writes outputs, end offsets
       and the group's positions as one RocksDB WriteBatch, so a crash at any instant leaves
       either all of it or none; a Kafka log produces, awaits every ack, then commits offsets.
    4. Return the batch (for counting) only after the log accepted it.
    A failure at step 3 raises: the caller stops, and a restart replays from the last commit.
    """
    batch = CommitBatch(outputs=outputs.drain())
    for task in tasks:
        batch.state.extend(task.flush_state())
        batch.positions.update(task.positions)
        task.pending = 0
    if batch.outputs or batch.positions or batch.state:
        await transport.commit(group, batch)
    return batch
