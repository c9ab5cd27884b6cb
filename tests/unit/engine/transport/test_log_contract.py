"""The contract every log implements (embedded and in-memory here; Kafka joins later)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.api import ConfigError, TransportError, UnknownTopicError
from engine.transport import CommitBatch, EmbeddedLog, partition_for
from engine.transport.local import LocalLog


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_append_read_and_end_offsets(local_log: LocalLog) -> None:
    run(local_log.create_topic("t", 3))
    records = [(f"k{i}".encode(), f"v{i}".encode(), i, None) for i in range(30)]
    run(local_log.produce("t", records))
    ends = run(local_log.end_offsets("t"))
    assert sum(ends) == 30
    for p in range(3):
        got = run(local_log.read(("t", p), 0, 100))
        assert [r[0] for r in got] == list(range(ends[p]))
        assert all(partition_for(r[1], 3) == p for r in got)
        assert [r[3] for r in got] == sorted(r[3] for r in got)
    first = run(local_log.read(("t", 0), 1, 2))
    assert [r[0] for r in first] == [1, 2][: max(0, ends[0] - 1)]


def test_null_keys_spread_and_headers_kept(local_log: LocalLog) -> None:
    run(local_log.create_topic("t", 2))
    run(local_log.produce("t", [(None, b"x", 1, [("h", b"v")]) for _ in range(4)]))
    assert run(local_log.end_offsets("t")) == [2, 2]
    assert [tuple(h) for h in run(local_log.read(("t", 0), 0, 1))[0][4]] == [("h", b"v")]


def test_commit_writes_outputs_and_positions_together(local_log: LocalLog) -> None:
    run(local_log.create_topic("in", 1))
    run(local_log.create_topic("out", 1))
    batch = CommitBatch(outputs=[("out", [(b"k", b"v", 1, None)])], positions={("in", 0): 7})
    run(local_log.commit("g", batch))
    assert run(local_log.committed("g", [("in", 0)])) == {("in", 0): 7}
    assert run(local_log.committed("other", [("in", 0)])) == {("in", 0): 0}
    assert run(local_log.end_offsets("out")) == [1]


def test_topic_errors(local_log: LocalLog) -> None:
    with pytest.raises(UnknownTopicError, match="'nope' does not exist"):
        run(local_log.end_offsets("nope"))
    run(local_log.create_topic("t", 2))
    run(local_log.create_topic("t", 2))
    with pytest.raises(ConfigError, match="exists with 2 partitions"):
        run(local_log.create_topic("t", 3))
    assert run(local_log.topics()) == {"t": 2}


def test_embedded_log_survives_reopen_and_allows_replay(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    run(log.create_topic("t", 2))
    run(log.produce("t", [(b"a", b"1", 1, None), (b"b", b"2", 2, None)]))
    run(log.commit("g", CommitBatch(positions={("t", 0): 1})))
    before = [run(log.read(("t", p), 0, 10)) for p in range(2)]
    run(log.close())
    again = EmbeddedLog(tmp_path)
    assert run(again.topics()) == {"t": 2}
    assert [run(again.read(("t", p), 0, 10)) for p in range(2)] == before
    assert run(again.committed("g", [("t", 0)])) == {("t", 0): 1}
    run(again.close())


def test_embedded_log_is_single_writer_but_readable(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    run(log.create_topic("t", 1))
    run(log.produce("t", [(b"a", b"1", 1, None)]))
    with pytest.raises(TransportError, match="in use by another shoal process"):
        EmbeddedLog(tmp_path)
    reader = EmbeddedLog(tmp_path, read_only=True)
    assert run(reader.end_offsets("t")) == [1]
    with pytest.raises(TransportError, match="read-only"):
        run(reader.produce("t", [(b"a", b"1", 1, None)]))
    run(reader.close())
    run(log.close())


def test_read_only_on_missing_dir_is_clear(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="no shoal data"):
        EmbeddedLog(tmp_path / "missing", read_only=True)


def test_describe_topic_reports_ends_positions_and_lag(local_log: LocalLog) -> None:
    run(local_log.create_topic("in", 2))
    run(local_log.produce("in", [(None, b"v", 1, None)] * 6))
    run(local_log.commit("g", CommitBatch(positions={("in", 1): 2})))
    d = run(local_log.describe_topic("in"))
    assert (d.topic, d.end_offsets, d.groups) == ("in", [3, 3], {"g": [0, 2]})
    assert d.lag("g") == 4 and d.lag("never") == 6
