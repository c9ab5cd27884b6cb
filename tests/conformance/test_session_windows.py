"""Conformance: session windows, as Kafka Streams defines them, and where Shoal differs.

Source: the session-window section of the Streams developer guide and
KStreamSessionWindowAggregate: a record at t merges every session of its key with
end >= t - gap and start <= t + gap into one (the aggregator's merge); a session's result
carries its end (its largest record time); `suppress(untilWindowCloses)` emits a session
once stream time >= end + gap + grace.
Shoal's documented differences (docs/semantics.md), each tested here: a record is late
only when the session it would make ends before stream time - gap - grace (Kafka Streams:
- grace); a record near a closed session starts a new one; sessions merged away are not
retracted with a tombstone on the output topic (the table drops them).
"""

from __future__ import annotations

from engine import Pipeline
from engine.api import windows
from tests.helpers.conformance import Input, run, windowed


def _pipeline(gap: int, grace: int, emit: str = "updates") -> Pipeline:
    p = Pipeline("se")
    p.stream("clicks", key="k").window(windows.session(gap=gap), grace=grace, emit=emit) \
        .count(name="sessions").to("out")
    return p


def _clicks(*rows: tuple[str, int]) -> list[Input]:
    return [("clicks", key, {"k": key}, t) for key, t in rows]


def test_sessions_merge() -> None:
    """gap 5: A@0 and A@3 share a session; A@10 starts another; A@6 bridges them into
    [0, 10]. Kafka Streams also sends tombstones for [0, 0], [0, 3] and [10, 10] as they
    are merged away; Shoal sends the new session only."""
    out, driver = run(_pipeline(5, 10),
                      _clicks(("A", 0), ("A", 3), ("A", 10), ("A", 6), ("B", 20)))
    assert windowed(out) == [("A", 0, 0, 1, 0), ("A", 0, 3, 2, 3), ("A", 10, 10, 1, 10),
                             ("A", 0, 10, 4, 10), ("B", 20, 20, 1, 20)]
    sessions = driver.table("sessions")
    assert [(w.start, w.end, w.value) for w in sessions.windows("A")] == [(0, 10, 4)]


def test_final_session_at_end_plus_gap_plus_grace() -> None:
    """emit="final", gap 5, grace 0: A's [0, 3] is final once stream time passes 3 + 5
    (B@9), as suppress(untilWindowCloses) emits it."""
    out, _ = run(_pipeline(5, 0, "final"), _clicks(("A", 0), ("A", 3), ("B", 8), ("B", 9)))
    assert windowed(out) == [("A", 0, 3, 2, 3)]


def test_record_within_the_gap_of_an_open_session() -> None:
    """gap 5, grace 0: A@0, B@4, then A@3: [0, 3] closes at 0 + 5 + 0, so A@3 joins it.
    Kafka Streams drops A@3 as late (the merged session's end 3 < stream time 4 - 0)."""
    out, driver = run(_pipeline(5, 0), _clicks(("A", 0), ("B", 4), ("A", 3)))
    assert windowed(out) == [("A", 0, 0, 1, 0), ("B", 4, 4, 1, 4), ("A", 0, 3, 2, 3)]
    assert driver.dead_letters() == []


def test_record_near_a_closed_session_starts_a_new_one() -> None:
    """gap 5, grace 0: at stream time 8 A's [0, 0] is closed (final); A@4 is within the gap
    but starts [4, 4] instead of reopening it (Kafka Streams drops it as late)."""
    out, driver = run(_pipeline(5, 0), _clicks(("A", 0), ("B", 8), ("A", 4)))
    assert windowed(out) == [("A", 0, 0, 1, 0), ("B", 8, 8, 1, 8), ("A", 4, 4, 1, 4)]
    assert driver.dead_letters() == []


def test_late_record() -> None:
    """gap 5, grace 0: at stream time 20 a record at 9 is late (9 + 5 + 0 < 20)."""
    out, driver = run(_pipeline(5, 0), _clicks(("A", 20), ("A", 9)))
    assert windowed(out) == [("A", 20, 20, 1, 20)]
    assert [(d.stage, d.offset) for d in driver.dead_letters()] == [("late", 1)]
