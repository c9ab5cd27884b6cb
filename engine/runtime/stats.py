"""Counters a run reports: in its progress line, its summary and (later) /metrics."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf"))
"""Upper bounds (seconds) of the commit-duration histogram's buckets."""
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
                   86400.0, float("inf"))
"""Upper bounds (seconds) of the end-to-end latency histogram's buckets."""

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
    (with one example: key, partition it is in, partition it belongs in); of those, how many
    had a null wire key, and how many each other partitioner would have placed right."""

    topic: str
    partitioner: str = "murmur2"
    checked: int = 0
    wrong: int = 0
    example: tuple[bytes, int, int] | None = None
    null_keys: int = 0
    fits: dict[str, int] = field(default_factory=dict)

    def add(self, other: Placement) -> None:
        """Sum another task's counts into these."""
        self.checked += other.checked
        self.wrong += other.wrong
        self.example = self.example or other.example
        self.null_keys += other.null_keys
        for name, count in other.fits.items():
            self.fits[name] = self.fits.get(name, 0) + count

    def warning(self) -> str:
        """One line for the user: what is wrong and which setting fixes it."""
        key, at, home = self.example or (b"", 0, 0)
        return (f"warning: {self.wrong:,} of {self.checked:,} sampled records of "
                f"'{self.topic}' are not in the partition their key hashes to by "
                f"{self.partitioner} (e.g. key {key.decode('utf-8', 'replace')!r} in "
                f"partition {at}, which belongs in {home}): joins and aggregations over them "
                f"are wrong. {self.fix()}")

    def fix(self) -> str:
        """What the user should do, from what the misplaced samples look like."""
        declare = (f"declare it on the input, p.stream('{self.topic}', ..., "
                   "partitioner={}), or run with --partitioner {}={}")
        if self.null_keys == self.wrong:
            return ("They have no key on the wire (it comes from the value), so they stay "
                    "where their producer put them: give them keys, or "
                    + declare.format('"any"', self.topic, "any")
                    + " (every record is then repartitioned)")
        fitting = [name for name, count in sorted(self.fits.items()) if count == self.wrong]
        if fitting:
            hint = " (librdkafka's default)" if fitting[0] == "crc32" else ""
            return (f"They look placed by {fitting[0]}{hint}: "
                    + declare.format(f'"{fitting[0]}"', self.topic, fitting[0])
                    + ", or produce with murmur2 (librdkafka: partitioner=murmur2_random)")
        return ("Produce with Kafka's default partitioner, murmur2 of the key (librdkafka: "
                "partitioner=murmur2_random), or "
                + declare.format('"any"', self.topic, "any")
                + " (every record is then repartitioned)")


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
    dead_by_stage: dict[str, int] = field(default_factory=dict)
    rebalances: int = 0  # assignment changes (partitions assigned or revoked)
    commit_buckets: list[int] = field(default_factory=lambda: [0] * len(COMMIT_BUCKETS))
    commit_seconds: float = 0.0  # summed over commits
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_seconds: float = 0.0  # summed over observations

    def observe_commit(self, seconds: float) -> None:
        """Count a commit's duration in its histogram bucket."""
        self.commit_seconds += seconds
        self.commit_buckets[bisect.bisect_left(COMMIT_BUCKETS, seconds)] += 1

    def observe_latency(self, seconds: float) -> None:
        """Count an end-to-end latency (commit time minus an output's timestamp)."""
        seconds = max(0.0, seconds)
        self.latency_seconds += seconds
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Input records per second so far."""
        return self.records_in / self.elapsed if self.elapsed > 0 else 0.0
