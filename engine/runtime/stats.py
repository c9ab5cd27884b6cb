"""Counters a run reports: in its progress line, its summary and (later) /metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lateness:
    """How many of the records reaching a window or join were late, and the grace (ms) that
    would have kept them all (the operator's grace is `grace`)."""

    operator: str
    seen: int
    late: int
    needed: int
    grace: int

    @property
    def share(self) -> float:
        """Late records as a share of the records seen."""
        return self.late / self.seen if self.seen else 0.0


@dataclass
class Placement:
    """Sampled records of a keyed input and how many were not in their key's partition
    (with one example: key, partition it is in, partition it belongs in)."""

    topic: str
    checked: int = 0
    wrong: int = 0
    example: tuple[bytes, int, int] | None = None

    def add(self, other: Placement) -> None:
        """Sum another task's counts into these."""
        self.checked += other.checked
        self.wrong += other.wrong
        self.example = self.example or other.example

    def warning(self) -> str:
        """One line for the user: what is wrong and which producer setting fixes it."""
        key, at, home = self.example or (b"", 0, 0)
        return (f"warning: {self.wrong:,} of {self.checked:,} sampled records of "
                f"'{self.topic}' are not in the partition their key hashes to (e.g. key "
                f"{key.decode('utf-8', 'replace')!r} in partition {at}, which belongs in "
                f"{home}): joins and aggregations over them are wrong. Produce '{self.topic}' "
                "with Kafka's default partitioner, murmur2 of the key (librdkafka clients: "
                "partitioner=murmur2_random), or key_by(...) it first")


@dataclass
class RunStats:
    """What a worker has done so far."""

    started: float = field(default_factory=time.monotonic)
    records_in: int = 0
    backlog: int = 0
    out: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0
    late: int = 0
    commits: int = 0
    drained: bool = False  # the input ended: every window and unmatched row was emitted
    lateness: list[Lateness] = field(default_factory=list)
    misplaced: list[Placement] = field(default_factory=list)  # inputs with misplaced keys

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Input records per second so far."""
        return self.records_in / self.elapsed if self.elapsed > 0 else 0.0
