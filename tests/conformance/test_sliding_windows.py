"""Conformance: sliding windows (KIP-450), as Kafka Streams defines them.

Source: KIP-450 and the SlidingWindows javadoc: windows of size d are [start, start + d],
both ends inclusive; each record creates its left window [t - d, t] (clamped to [0, d] for
t < d) and the right window [t + 1, t + 1 + d] of a record once a later record falls in it;
records are aggregated in arrival order; a window accepts records until stream time >
end + grace; a record is dropped as late once t + 1 + d <= stream time - grace; a result
carries the largest record time in its window.
Within one record's processing Shoal emits the changed windows by start; Kafka Streams'
order follows its store iterator (docs/semantics.md).
"""

from __future__ import annotations

from typing import Any

from engine import Pipeline
from engine.api import windows
from tests.helpers.conformance import Input, run, windowed


def _pipeline(size: int, grace: int, emit: str, collect: bool) -> Pipeline:
    p = Pipeline("sw")
    w = p.stream("in", key="k").window(windows.sliding(ms=size), grace=grace, emit=emit)
    (w.collect("v", name="w") if collect else w.count(name="w")).to("out")
    return p


def _records(*rows: tuple[str, str, int]) -> list[Input]:
    return [("in", key, {"k": key, "v": v}, t) for key, v, t in rows]


ISSUE_REPRO = _records(("A", "a", 100), ("A", "b", 105), ("A", "c", 103), ("A", "d", 113))


def test_final_windows_in_arrival_order() -> None:
    """size 50: c@103 arrives after b@105; every window lists its records in arrival
    order (the window [63, 113] holds a, b, c, d, not a, c, b, d)."""
    out, _ = run(_pipeline(50, 100, "final", True),
                 ISSUE_REPRO + _records(("B", "z", 1000)))
    assert windowed(out) == [
        ("A", 50, 100, ["a"], 100),
        ("A", 53, 103, ["a", "c"], 103),
        ("A", 55, 105, ["a", "b", "c"], 105),
        ("A", 63, 113, ["a", "b", "c", "d"], 113),
        ("A", 101, 151, ["b", "c", "d"], 113),
        ("A", 104, 154, ["b", "d"], 113),
        ("A", 106, 156, ["d"], 113),
    ]


def test_updates() -> None:
    """Every created or changed window is emitted (by start within one record)."""
    out, _ = run(_pipeline(50, 100, "updates", True), ISSUE_REPRO)
    expected: list[Any] = [
        ("A", 50, 100, ["a"], 100),                                     # a@100
        ("A", 55, 105, ["a", "b"], 105), ("A", 101, 151, ["b"], 105),  # b@105
        ("A", 53, 103, ["a", "c"], 103), ("A", 55, 105, ["a", "b", "c"], 105),
        ("A", 101, 151, ["b", "c"], 105), ("A", 104, 154, ["b"], 105),  # c@103
        ("A", 63, 113, ["a", "b", "c", "d"], 113), ("A", 101, 151, ["b", "c", "d"], 113),
        ("A", 104, 154, ["b", "d"], 113), ("A", 106, 156, ["d"], 113),  # d@113
    ]
    assert windowed(out) == expected


def test_early_records_share_the_window_from_zero() -> None:
    """size 50: records at 10 and 30 both fall in [0, 50] (not [-40, 10]); 10's right
    window [11, 61] holds 30."""
    out, _ = run(_pipeline(50, 0, "updates", False), _records(("A", "a", 10), ("A", "b", 30)))
    assert windowed(out) == [("A", 0, 50, 1, 10), ("A", 0, 50, 2, 30), ("A", 11, 61, 1, 30)]


def test_record_whose_own_window_closed() -> None:
    """size 10, grace 0, stream time 150: c@145 is not late (145 + 1 + 10 > 150) but its
    left window [135, 145] is closed: it counts in [140, 150] and makes its right window
    [146, 156] (which holds 150 only), as in Kafka Streams."""
    out, driver = run(_pipeline(10, 0, "updates", False),
                      _records(("A", "a", 100), ("A", "b", 150), ("A", "c", 145)))
    assert windowed(out) == [("A", 90, 100, 1, 100), ("A", 140, 150, 1, 150),
                             ("A", 140, 150, 2, 150), ("A", 146, 156, 1, 150)]
    assert driver.dead_letters() == []


def test_late_record() -> None:
    """size 10, grace 0: at stream time 150 a record at 139 is late (139 + 1 + 10 <= 150)."""
    out, driver = run(_pipeline(10, 0, "updates", False),
                      _records(("A", "a", 150), ("A", "b", 139)))
    assert windowed(out) == [("A", 140, 150, 1, 150)]
    assert [(d.stage, d.offset) for d in driver.dead_letters()] == [("late", 1)]
