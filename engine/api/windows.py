"""Window definitions and durations (epoch-aligned, milliseconds), as in Kafka Streams.

    windows.tumbling(minutes=1)                    [start, start + size)
    windows.hopping(minutes=5, advance=minutes(1)) overlapping, every `advance`
    windows.session(gap=minutes(30))               per key, merged when closer than gap
    windows.sliding(minutes=5)                     Kafka Streams sliding windows
"""

from __future__ import annotations

from dataclasses import dataclass


def duration(ms: int = 0, seconds: float = 0, minutes: float = 0, hours: float = 0,
             days: float = 0) -> int:
    """A duration in milliseconds."""
    total = ms + seconds * 1_000 + minutes * 60_000 + hours * 3_600_000 + days * 86_400_000
    if total != int(total):
        raise ValueError(f"durations are whole milliseconds, got {total}")
    return int(total)


def seconds(n: float) -> int:
    """n seconds in ms."""
    return duration(seconds=n)


def minutes(n: float) -> int:
    """n minutes in ms."""
    return duration(minutes=n)


def hours(n: float) -> int:
    """n hours in ms."""
    return duration(hours=n)


@dataclass(frozen=True)
class Window:
    """One window instance: [start, end)."""

    start: int
    end: int


@dataclass(frozen=True)
class TimeWindows:
    """Fixed-size windows every `advance` ms (tumbling when advance == size)."""

    size: int
    advance: int

    def __post_init__(self) -> None:
        if self.size <= 0 or self.advance <= 0 or self.advance > self.size:
            raise ValueError(f"windows need 0 < advance <= size, got size={self.size} "
                             f"advance={self.advance}")

    @property
    def kind(self) -> str:
        """'tumbling' or 'hopping'."""
        return "tumbling" if self.advance == self.size else "hopping"

    def windows_for(self, ts: int) -> list[Window]:
        """Every window containing `ts`, oldest first, aligned to the epoch; as in Kafka
        Streams no window starts before 0."""
        last = ts - ts % self.advance
        first = max(0, last - (self.size - self.advance) // self.advance * self.advance)
        return [Window(s, s + self.size) for s in range(first, last + 1, self.advance)
                if s <= ts < s + self.size]


@dataclass(frozen=True)
class SessionWindows:
    """Per-key sessions that close after `gap` ms of inactivity."""

    gap: int

    def __post_init__(self) -> None:
        if self.gap <= 0:
            raise ValueError(f"session gap must be positive, got {self.gap}")

    @property
    def kind(self) -> str:
        """Always 'session'."""
        return "session"


@dataclass(frozen=True)
class SlidingWindows:
    """Kafka Streams sliding windows: two records share a window when their times differ by
    at most `size` ms."""

    size: int

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"sliding window size must be positive, got {self.size}")

    @property
    def kind(self) -> str:
        """Always 'sliding'."""
        return "sliding"


WindowSpec = TimeWindows | SessionWindows | SlidingWindows


def tumbling(ms: int = 0, seconds: float = 0, minutes: float = 0, hours: float = 0,
             days: float = 0) -> TimeWindows:
    """Back-to-back windows of one size."""
    size = duration(ms, seconds, minutes, hours, days)
    return TimeWindows(size, size)


def hopping(ms: int = 0, seconds: float = 0, minutes: float = 0, hours: float = 0,
            days: float = 0, *, advance: int) -> TimeWindows:
    """Windows of one size that start every `advance` ms."""
    return TimeWindows(duration(ms, seconds, minutes, hours, days), advance)


def session(gap: int) -> SessionWindows:
    """Sessions per key separated by more than `gap` ms of inactivity."""
    return SessionWindows(gap)


def sliding(ms: int = 0, seconds: float = 0, minutes: float = 0,
            hours: float = 0) -> SlidingWindows:
    """Sliding windows of `size` (records at most `size` apart share a window)."""
    return SlidingWindows(duration(ms, seconds, minutes, hours))
