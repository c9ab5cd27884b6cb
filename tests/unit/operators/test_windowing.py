"""The book of closed windows: kept by end, given back by end then key when expired."""

from __future__ import annotations

from engine.api.state import window_key
from operators.windowing import Closed


def test_closed_windows_expire_by_end_then_key() -> None:
    closed = Closed()
    z, a, b, c, long = (window_key(k, 0) for k in (b"z", b"a", b"b", b"c", b"long" * 40))
    for end, wk in ((20, b), (10, z), (20, a), (30, c), (20, long), (20, c)):
        closed.add(end, wk)
    assert len(closed) == 3  # distinct ends
    assert list(closed.expired(9)) == []
    assert list(closed.expired(20)) == [z, a, b, c, long]
    assert len(closed) == 1 and list(closed.expired(1 << 62)) == [c] and not closed
