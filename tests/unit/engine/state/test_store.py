"""The store contract: cached reads and writes, ordered ranges, flush to the backend."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api.state import prefix_end, split_window_key, window_key
from engine.state import DictBackend, TaskStore


def test_reads_see_own_writes_and_flush_persists() -> None:
    backend = DictBackend()
    store = TaskStore("s", 3, backend)
    store.put(b"a", {"n": 1})
    store.put(b"b", 2)
    store.delete(b"b")
    assert store.get(b"a") == {"n": 1} and store.get(b"b") is None
    assert backend.data == {}
    backend.apply(store.flush())
    assert set(backend.data) == {b"\x00\x00\x00\x03a"}
    fresh = TaskStore("s", 3, backend)
    assert fresh.get(b"a") == {"n": 1}
    assert TaskStore("s", 4, backend).get(b"a") is None


def test_items_merge_committed_and_dirty_in_order() -> None:
    backend = DictBackend()
    store = TaskStore("s", 0, backend)
    for key in (b"a", b"c", b"e"):
        store.put(key, key.decode())
    backend.apply(store.flush())
    store.put(b"b", "B")
    store.delete(b"c")
    store.put(b"e", "E")
    assert list(store.items()) == [(b"a", "a"), (b"b", "B"), (b"e", "E")]
    assert list(store.items(b"b", b"e")) == [(b"b", "B")]


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.binary(max_size=3), st.one_of(st.none(), st.integers())),
                    max_size=40),
       flush_every=st.integers(1, 10))
def test_store_matches_a_dict(ops: list[tuple[bytes, int | None]], flush_every: int) -> None:
    backend = DictBackend()
    store = TaskStore("s", 1, backend, cache_limit=4)
    model: dict[bytes, int] = {}
    for i, (key, value) in enumerate(ops):
        store.put(key, value)
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value
        if i % flush_every == 0:
            backend.apply(store.flush())
        assert store.get(key) == model.get(key)
    assert list(store.items()) == sorted(model.items())


@given(key=st.binary(max_size=8), a=st.integers(-2**40, 2**40), b=st.integers(-2**40, 2**40))
def test_window_keys_round_trip_and_sort_by_start(key: bytes, a: int, b: int) -> None:
    assert split_window_key(window_key(key, a)) == (key, a)
    assert (window_key(key, a) < window_key(key, b)) == (a < b)


def test_prefix_end() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff") is None
