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

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Input records per second so far."""
        return self.records_in / self.elapsed if self.elapsed > 0 else 0.0
