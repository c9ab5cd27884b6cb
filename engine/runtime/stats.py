"""Counters a run reports: in its progress line, its summary and (later) /metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Input records per second so far."""
        return self.records_in / self.elapsed if self.elapsed > 0 else 0.0
