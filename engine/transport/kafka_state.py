"""State on Kafka: changelog records and tasks' progress records (no aiokafka here).

A changelog record carries `shoal.n`: how many records its task had run at the commit that
made it. A restore keeps, per key, the change with the largest n up to the committed one:
changes of a commit whose offsets were never committed (a crash, or a paused worker that
lost its partitions and wrote on) are skipped, and as runs replay deterministically, a
change made by n records equals the one any other run makes by n records.

Offset commits cannot carry the tasks' progress on every broker (Tansu keeps no commit
metadata), so each commit also writes, per task, a record to `<group>.progress` (keyed by the
task id): the positions it commits and the progress. The progress of a task is the latest
such record whose positions equal the committed offsets.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.api import OutRecord, TopicPartition
from engine.api.state import partition_prefix
from engine.transport.base import RecordTuple

N_HEADER = "shoal.n"


class Saved(msgspec.Struct, array_like=True):
    """One progress record: the committed positions and the task's progress."""

    positions: list[tuple[str, int, int]]
    progress: bytes


def changelog_record(key: bytes, value: bytes | None, n: int, now: int) -> OutRecord:
    """A changelog record for a backend key without its partition prefix."""
    return key, value, now, [(N_HEADER, n.to_bytes(8, "big"))]


def n_of(headers: Any) -> int:
    """The `shoal.n` of a changelog record (-1 without one: never restored)."""
    for name, raw in headers or ():
        if name == N_HEADER:
            return int.from_bytes(bytes(raw), "big")
    return -1


def restorable(records: list[RecordTuple], partition: int, committed_n: int
               ) -> dict[bytes, bytes | None]:
    """Backend key -> value of a changelog partition's records as of `committed_n`."""
    prefix = partition_prefix(partition)
    best: dict[bytes, tuple[int, bytes | None]] = {}
    for _, key, value, _, headers in records:
        n = n_of(headers)
        if 0 <= n <= committed_n:
            full = prefix + (key or b"")
            found = best.get(full)
            if found is None or n >= found[0]:
                best[full] = (n, value)
    return {key: value for key, (_, value) in best.items()}


def progress_record(task: str, positions: dict[TopicPartition, int], progress: bytes,
                    now: int) -> OutRecord:
    """The record saving `task`'s progress with the positions it commits."""
    saved = Saved(sorted((t, p, off) for (t, p), off in positions.items()), progress)
    return task.encode(), msgspec.msgpack.encode(saved), now, None


def find_progress(records: list[RecordTuple], task: str,
                  committed: dict[TopicPartition, int]) -> bytes | None:
    """The latest progress of `task` saved with positions equal to `committed`."""
    key = task.encode()
    for _, k, value, _, _ in reversed(records):
        if k != key or value is None:
            continue
        saved = msgspec.msgpack.decode(value, type=Saved)
        if all(committed.get((t, p), 0) == off for t, p, off in saved.positions):
            return saved.progress
    return None
