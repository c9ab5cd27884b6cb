"""The store contract: cached reads and writes, ordered ranges, flush to the backend."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api.state import prefix_end, split_window_key, window_key
from engine.state import Backend, DictBackend, LocalState, TaskStore
from engine.state.seen import SeenKeys

Commit = Callable[[list[tuple[bytes, bytes | None]]], None]


@contextmanager
def opened(kind: str) -> Iterator[tuple[Backend, Commit]]:
    """A backend of `kind` and the way a commit writes to it."""
    if kind == "dict":
        backend = DictBackend()
        yield backend, backend.apply
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalState(Path(tmp), "t")
        try:
            yield local.backend("s"), lambda changes: local.write("s", changes)
        finally:
            local.close()


BACKENDS = pytest.mark.parametrize("kind", ["dict", "rocksdb"])


@BACKENDS
def test_reads_see_own_writes_and_flush_persists(kind: str) -> None:
    with opened(kind) as (backend, commit):
        store = TaskStore("s", 3, backend)
        store.put(b"a", {"n": 1})
        store.put(b"b", 2)
        store.delete(b"b")
        assert store.get(b"a") == {"n": 1} and store.get(b"b") is None
        assert list(backend.scan(b"", None)) == []
        commit(store.flush())
        assert [k for k, _ in backend.scan(b"", None)] == [b"\x00\x00\x00\x03a"]
        assert TaskStore("s", 3, backend).get(b"a") == {"n": 1}
        assert TaskStore("s", 4, backend).get(b"a") is None


@BACKENDS
def test_items_merge_committed_and_dirty_in_order(kind: str) -> None:
    with opened(kind) as (backend, commit):
        _merge_scenario(backend, commit)


def _merge_scenario(backend: Backend, commit: Commit) -> None:
    store = TaskStore("s", 0, backend)
    for key in (b"a", b"c", b"e"):
        store.put(key, key.decode())
    commit(store.flush())
    store.put(b"b", "B")
    store.delete(b"c")
    store.put(b"e", "E")
    assert list(store.items()) == [(b"a", "a"), (b"b", "B"), (b"e", "E")]
    assert list(store.items(b"b", b"e")) == [(b"b", "B")]


@BACKENDS
@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.binary(max_size=3), st.one_of(st.none(), st.integers())),
                    max_size=40),
       flush_every=st.integers(1, 10))
def test_store_matches_a_dict(kind: str, ops: list[tuple[bytes, int | None]],
                              flush_every: int) -> None:
    with opened(kind) as (backend, commit):
        _model_scenario(backend, commit, ops, flush_every)


def _model_scenario(backend: Backend, commit: Commit, ops: list[tuple[bytes, int | None]],
                    flush_every: int) -> None:
    store = TaskStore("s", 1, backend, cache_limit=4)
    model: dict[bytes, int] = {}
    for i, (key, value) in enumerate(ops):
        store.put(key, value)
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value
        if i % flush_every == 0:
            commit(store.flush())
        assert store.get(key) == model.get(key)
        assert len(store.cache) <= 4
        lo, hi = sorted((key, ops[i // 2][0]))
        assert list(store.items(lo, hi)) == sorted(
            (k, v) for k, v in model.items() if lo <= k < hi)
    assert list(store.items()) == sorted(model.items())


@given(key=st.binary(max_size=8), a=st.integers(-2**40, 2**40), b=st.integers(-2**40, 2**40))
def test_window_keys_round_trip_and_sort_by_start(key: bytes, a: int, b: int) -> None:
    assert split_window_key(window_key(key, a)) == (key, a)
    assert (window_key(key, a) < window_key(key, b)) == (a < b)


def test_prefix_end() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff") is None


class CountingBackend(DictBackend):
    """A dict backend that counts point reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().get(key)


def test_a_store_of_an_empty_partition_reads_only_keys_it_evicted() -> None:
    backend = CountingBackend()
    store = TaskStore("s", 0, backend, cache_limit=3)
    assert store.get(b"x") is None and backend.reads == 0
    for key in (b"a", b"b", b"c", b"d"):  # a (dirty) is evicted into pending: still known
        store.put(key, key.decode())
    assert b"a" not in store.cache and store.get(b"a") == "a" and backend.reads == 0
    backend.apply(store.flush())
    for key in (b"e", b"f", b"g"):  # evicts the flushed (clean) entries
        store.put(key, key.decode())
    assert store.get(b"x") is None and backend.reads == 0  # never evicted: no read
    assert store.get(b"b") == "b" and backend.reads == 1  # flushed, evicted: read
    reopened = TaskStore("s", 0, backend)  # a partition with data: every miss reads
    assert reopened.get(b"b") == "b" and reopened.get(b"y") is None
    assert backend.reads == 3


def test_seen_keys_never_forget() -> None:
    seen = SeenKeys(capacity=1000)
    keys = [b"k%d" % i for i in range(900)]
    for key in keys:
        seen.add(key)
    assert all(key in seen for key in keys) and not seen.full
    others = sum(b"other%d" % i in seen for i in range(10_000))
    assert others < 600  # a few % false positives near capacity
    for i in range(2000):
        seen.add(b"more%d" % i)
    assert seen.full and all(key in seen for key in keys)


def test_the_cache_is_bounded_and_evicted_changes_reach_the_commit() -> None:
    backend = DictBackend()
    store = TaskStore("s", 2, backend, cache_limit=10)
    for i in range(100):
        store.put(b"k%03d" % i, i)
        assert len(store.cache) <= 10
    store.delete(b"k005")
    assert store.get(b"k007") == 7 and store.get(b"k005") is None  # from pending
    assert [k for k, _ in store.items(b"k004", b"k008")] == [b"k004", b"k006", b"k007"]
    backend.apply(store.flush())
    assert len(backend.data) == 99 and not store.pending and not store.dirty
    assert TaskStore("s", 2, backend).get(b"k099") == 99


def test_least_recently_used_goes_first() -> None:
    store = TaskStore("s", 0, DictBackend(), cache_limit=8)
    for key in (b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"):
        store.put(key, 1)
    store.get(b"a")  # a is now the most recently used; b the least
    store.put(b"i", 1)
    assert b"b" not in store.cache and b"a" in store.cache and b"b" in store.pending


def test_rocks_backend_sizes(tmp_path: Path) -> None:
    """A RocksDB store's key estimate and bytes, as /metrics reports them: distinct keys
    written once are counted exactly; bytes grow with the data."""
    local = LocalState(tmp_path, "sizes")
    backend = local.backend("s")
    assert backend.estimated_keys() == 0
    empty = backend.size_bytes()
    local.write("s", [(b"k%04d" % i, b"v" * 100) for i in range(500)])
    assert backend.estimated_keys() == 500
    assert backend.size_bytes() > empty
    local.close()


def test_released_keys_leave_the_cache_at_the_second_flush() -> None:
    backend = CountingBackend()
    store = TaskStore("s", 0, backend)
    store.put(b"closed", 1)
    store.put(b"open", 2)
    store.release(b"closed")
    backend.apply(store.flush())  # written by this commit: still cached
    assert b"closed" in store.cache
    backend.apply(store.flush())  # that commit has landed: dropped, read back on demand
    assert b"closed" not in store.cache and b"open" in store.cache
    assert store.get(b"new") is None and backend.reads == 0  # never cached: no read
    assert store.get(b"closed") == 1 and backend.reads == 1


def test_a_released_key_changed_again_stays_cached() -> None:
    store = TaskStore("s", 0, DictBackend())
    store.put(b"k", 1)
    store.release(b"k")
    store.backend.apply(store.flush())
    store.put(b"k", 2)
    assert store.flush() == [(store.prefix + b"k", store.dumps(2))]
    assert store.cache[b"k"] == 2


@BACKENDS
@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.binary(max_size=2), st.one_of(st.none(), st.integers()),
                              st.booleans()), max_size=40),
       flush_every=st.integers(1, 5))
def test_releasing_keys_changes_no_read(kind: str, ops: list[tuple[bytes, int | None, bool]],
                                        flush_every: int) -> None:
    with opened(kind) as (backend, commit):
        store = TaskStore("s", 1, backend, cache_limit=6)
        model: dict[bytes, int] = {}
        for i, (key, value, release) in enumerate(ops):
            store.put(key, value)
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
            if release:
                store.release(key)
            if i % flush_every == 0:
                commit(store.flush())
            assert all(store.get(k) == model.get(k) for k, _, _ in ops[:i + 1])
        commit(store.flush())
        assert list(store.items()) == sorted(model.items())
        assert list(TaskStore("s", 1, backend).items()) == sorted(model.items())
