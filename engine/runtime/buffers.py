"""Output buffers shared by a worker's tasks, one list per topic, in processing order.

Sharing keeps a topic's records in the order they were produced across tasks, so a
repartition topic interleaves its writers at batch granularity rather than task by task
(which would make event time jump back by a whole commit's worth and turn records late).
"""

from __future__ import annotations

from engine.api import OutRecord


class OutputBuffers:
    """topic -> records waiting for the next commit."""

    def __init__(self) -> None:
        self.topics: dict[str, list[OutRecord]] = {}

    def get(self, topic: str) -> list[OutRecord]:
        """The (shared) list for `topic`."""
        return self.topics.setdefault(topic, [])

    def drain(self) -> list[tuple[str, list[OutRecord]]]:
        """Take every non-empty buffer, emptying it in place (tasks keep their references)."""
        out = [(topic, records[:]) for topic, records in self.topics.items() if records]
        for records in self.topics.values():
            records.clear()
        return out
