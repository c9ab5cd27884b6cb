"""Conformance: tumbling and hopping windowed aggregations, as Kafka Streams defines them.

Source: the windowing section of the Streams developer guide (windows aligned to the epoch,
start inclusive, end exclusive; a window accepts records while stream time < end + grace,
later ones are dropped as late, which Shoal dead-letters with reason `late`), KIP-328
(`suppress(untilWindowCloses)`: one final result per window, once it closes; Shoal's
emit="final"), and KStreamWindowAggregate (a result carries the largest record time in
its window).
"""

from __future__ import annotations

from engine import Pipeline
from engine.api import windows
from tests.helpers.conformance import Input, run, windowed


def _clicks(*rows: tuple[str, int]) -> list[Input]:
    return [("clicks", key, {"k": key}, ts) for key, ts in rows]


def _counts(spec: windows.TimeWindows, grace: int, emit: str = "updates") -> Pipeline:
    p = Pipeline("tw")
    p.stream("clicks", key="k").window(spec, grace=grace, emit=emit) \
        .count(name="counts").to("out")
    return p


def test_tumbling_updates_with_grace() -> None:
    """Size 5, grace 2. A@1 arrives out of order while [0, 5) is open (stream time 5 <
    5 + 2) and keeps the window's time at 3; A@2 at stream time 8 is late (8 >= 7)."""
    records = _clicks(("A", 0), ("A", 3), ("A", 5), ("B", 4), ("A", 1), ("A", 8), ("A", 2))
    out, driver = run(_counts(windows.tumbling(ms=5), grace=2), records)
    assert windowed(out) == [
        ("A", 0, 5, 1, 0), ("A", 0, 5, 2, 3), ("A", 5, 10, 1, 5), ("B", 0, 5, 1, 4),
        ("A", 0, 5, 3, 3), ("A", 5, 10, 2, 8),
    ]
    assert [(d.stage, d.offset) for d in driver.dead_letters()] == [("late", 6)]


def test_window_closes_at_end_plus_grace() -> None:
    """Grace 0: at stream time 5, [0, 5) is closed, so a record at 4 is late; at stream
    time 4 it was still open."""
    records = _clicks(("A", 4), ("A", 3), ("A", 5), ("A", 4))
    out, driver = run(_counts(windows.tumbling(ms=5), grace=0), records)
    assert windowed(out) == [("A", 0, 5, 1, 4), ("A", 0, 5, 2, 4), ("A", 5, 10, 1, 5)]
    assert [d.offset for d in driver.dead_letters()] == [3]


def test_hopping_windows() -> None:
    """Size 10, advance 5: a record at 7 counts in [0, 10) and [5, 15) (oldest first); at
    12 in [5, 15) and [10, 20); a record at 3 after stream time 12 is late (its only
    window [0, 10) closed at 10)."""
    records = _clicks(("A", 7), ("A", 12), ("A", 3))
    out, driver = run(_counts(windows.hopping(ms=10, advance=5), grace=0), records)
    assert windowed(out) == [("A", 0, 10, 1, 7), ("A", 5, 15, 1, 7), ("A", 5, 15, 2, 12),
                             ("A", 10, 20, 1, 12)]
    assert [d.offset for d in driver.dead_letters()] == [2]


def test_hopping_windows_start_at_zero() -> None:
    """Size 10, advance 5: a record at 2 is in [0, 10) only (no window starts below 0)."""
    out, _ = run(_counts(windows.hopping(ms=10, advance=5), grace=0), _clicks(("A", 2)))
    assert windowed(out) == [("A", 0, 10, 1, 2)]


def test_final_results_once_closed() -> None:
    """emit="final", size 5, grace 1: A's and B's [0, 5) come out when stream time reaches
    6 (key order within one end), A's [5, 10) at 12; the still-open [10, 15) only when the
    input is drained."""
    records = _clicks(("A", 1), ("A", 4), ("B", 2), ("A", 6), ("A", 12))
    out, _ = run(_counts(windows.tumbling(ms=5), grace=1, emit="final"), records)
    assert windowed(out) == [("A", 0, 5, 2, 4), ("B", 0, 5, 1, 2), ("A", 5, 10, 1, 6)]
    drained, _ = run(_counts(windows.tumbling(ms=5), grace=1, emit="final"), records,
                     drain=True)
    assert windowed(drained) == [*windowed(out), ("A", 10, 15, 1, 12)]
