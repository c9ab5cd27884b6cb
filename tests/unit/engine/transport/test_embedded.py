"""Embedded-log specifics: durability across reopen, single writer, read-only access."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.api import TransportError
from engine.transport import CommitBatch, EmbeddedLog
from engine.transport.local import LocalLog


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


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
