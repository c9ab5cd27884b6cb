"""The book of closed windows: kept by end, given back by end then key when expired."""

from __future__ import annotations

from operators.windowing import Closed


def test_closed_windows_expire_by_end_then_key() -> None:
    closed = Closed()
    for end, wk in ((20, b"b"), (10, b"z"), (20, b"a"), (30, b"c"), (20, b"c")):
        closed.add(end, wk)
    assert len(closed) == 3  # distinct ends
    assert list(closed.expired(9)) == []
    assert list(closed.expired(20)) == [b"z", b"a", b"b", b"c"]
    assert len(closed) == 1 and list(closed.expired(1 << 62)) == [b"c"] and not closed
