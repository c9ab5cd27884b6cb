"""The commit procedure: the one place where work becomes durable."""

from __future__ import annotations

from collections.abc import Iterable

from engine.runtime.task import Task
from engine.transport.base import CommitBatch, Routed, Transport


async def commit(tasks: Iterable[Task], transport: Transport, group: str,
                 handed: list[Routed] | None = None) -> CommitBatch | None:
    """Commit everything the tasks did since the last commit; None when nothing was to.

    1. Internal records already handed to their readers (engine/runtime/exchange.py) go
       first, so they land at the offsets the readers know them by. Each task that has
       anything to say hands over its part: its outputs (sinks, internal
       topics with their sequence headers and control records, dead letters), the dirty
       entries of its stores, the positions of its inputs (the first record not run yet) and
       its progress (lanes, what its readers were told, the decisions of this commit).
    2. The log takes the batch in one call. The embedded log writes all of it as one RocksDB
       WriteBatch, so a crash at any instant leaves either all of it or none; a Kafka log
       produces, awaits every ack, then commits the offsets.
    3. Only then do the tasks act on the decisions the batch recorded (an input turning idle,
       an idle one resuming, an idle tick), so that a replay after a crash follows them.
    A failure at step 2 raises: the caller stops, and a restart replays from the last commit.
    """
    parts = [(task, task.commit_parts()) for task in tasks if task.needs_commit()]
    if not parts and not handed:
        return None
    batch = CommitBatch(outputs=list(handed or ()))
    for task, part in parts:
        batch.outputs.extend(part.outputs)
        batch.state.extend(part.state)
        batch.positions.update(part.positions)
        batch.progress[task.id] = (part.positions, part.progress)
        batch.purge.update((tp, pos) for tp, pos in part.positions.items() if tp in task.internal)
    await transport.commit(group, batch)
    for task, _ in parts:
        task.after_commit()
    return batch
