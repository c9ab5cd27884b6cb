"""The embedded durable log: partitioned topics in one RocksDB (rocksdict) under a data dir.

Key layout (big-endian numbers, so RocksDB's order is offset order):
  T<topic>                       -> msgpack [topic id, partitions]
  E<tid:4><partition:4>          -> end offset (8 bytes)
  L<tid:4><partition:4><off:8>   -> msgpack [timestamp, key, value, headers]
  O<group>\\0<tid:4><partition:4> -> committed position (8 bytes)
  P<group>\\0<task id>           -> the task's saved progress (engine/runtime/task.py)
  S<tid:4><partition:4>          -> first kept offset of a purged internal partition
A commit (records, end offsets, group positions, progress, state) is one WriteBatch: atomic
across a crash. Internal-topic records below their reader's committed position are then
deleted (a range tombstone, and S moves).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec
from rocksdict import AccessType, Options, Rdict, WriteBatch

from engine.api import LogBusy, TransportError
from engine.transport.base import RecordTuple
from engine.transport.local import Append, LocalLog, Progress, StateChanges, TopicMeta

_pack = msgspec.msgpack.encode
_unpack = msgspec.msgpack.decode


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _tp(tid: int, partition: int) -> bytes:
    return tid.to_bytes(4, "big") + partition.to_bytes(4, "big")


def _io_error(data_dir: Path, exc: Exception) -> Exception:
    """RocksDB's I/O errors as a TransportError that says what to do; others as they are."""
    if "IO error" not in str(exc):
        return exc
    said = str(exc).rstrip(". ")
    return TransportError(f"cannot write the log in '{data_dir}' (is the disk full?): {said}. "
                          "Nothing committed before was lost: free some space and run again")


MEMTABLES = 64 << 20
"""All memtables of the log's database together (the log and every store): RocksDB
flushes the largest when they reach it, so a busy log's memory stays bounded."""


def _options() -> Options:
    options = Options(raw_mode=True)
    options.set_write_buffer_size(MEMTABLES // 4)
    return options


def _open(path: Path, read_only: bool) -> Rdict:
    options = _options()
    options.set_db_write_buffer_size(MEMTABLES)
    options.create_if_missing(True)
    try:
        if read_only:
            return Rdict(str(path), options, access_type=AccessType.read_only())
        return Rdict(str(path), options)
    except Exception as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise LogBusy(
                f"data dir '{path.parent}' is in use by another shoal process "
                "(stop it, or use another --data-dir)") from None
        raise TransportError(f"cannot open the log in '{path.parent}': {text}") from None


class EmbeddedLog(LocalLog):
    """The log of one data directory; one process writes it at a time."""

    name = "embedded"

    def __init__(self, data_dir: str | os.PathLike[str], read_only: bool = False) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        path = self.data_dir / "log"
        if read_only and not path.exists():
            raise TransportError(f"no shoal data in '{self.data_dir}' (nothing produced yet)")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.read_only = read_only
        self.db = _open(path, read_only)
        self._families: dict[str, tuple[Rdict, Any]] = {}
        self.starts: dict[tuple[int, int], int] = {}  # first kept offset of purged partitions
        self._load()

    def has_column_family(self, store: str) -> bool:
        """True when `store` has a column family (its first commit happened)."""
        return store in self._families or store in Rdict.list_cf(str(self.data_dir / "log"))

    async def has_store(self, store: str) -> bool:
        """True when `store` has a column family (as on Kafka: a changelog topic)."""
        return self.has_column_family(store)

    def column_family(self, store: str) -> Rdict:
        """The RocksDB column family holding `store` (created when missing)."""
        found = self._families.get(store)
        if found is None:
            if self.has_column_family(store):
                view = self.db.get_column_family(store)
            elif self.read_only:
                raise TransportError(f"no store '{store}' in '{self.data_dir}'")
            else:
                view = self.db.create_column_family(store, _options())
            found = self._families[store] = (view, self.db.get_column_family_handle(store))
        return found[0]

    def _scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key without prefix, value) of every key starting with `prefix`."""
        for key, value in self.db.items(from_key=prefix):
            if not isinstance(key, bytes) or not key.startswith(prefix):
                break
            yield key[len(prefix):], bytes(value)

    def _load(self) -> None:
        by_id: dict[int, str] = {}
        for name, value in self._scan(b"T"):
            tid, partitions = _unpack(value)
            self.meta[name.decode()] = TopicMeta(tid, partitions)
            by_id[tid] = name.decode()
        for tp, value in self._scan(b"E"):
            self.ends[(_int(tp[:4]), _int(tp[4:8]))] = _int(value)
        for rest, value in self._scan(b"O"):
            group, _, tp = rest.partition(b"\0")
            topic = by_id.get(_int(tp[:4]))
            if topic is not None:
                self.offsets[(group.decode(), topic, _int(tp[4:8]))] = _int(value)
        for rest, value in self._scan(b"P"):
            group, _, task = rest.partition(b"\0")
            self.saved[(group.decode(), task.decode())] = value
        for tp, value in self._scan(b"S"):
            self.starts[(_int(tp[:4]), _int(tp[4:8]))] = _int(value)

    def _store(self, appends: Iterator[Append], ends: dict[tuple[int, int], int],
               offsets: dict[tuple[str, str, int], int], new_topics: dict[str, TopicMeta],
               state: StateChanges, progress: Progress) -> None:
        if self.read_only:
            raise TransportError(f"data dir '{self.data_dir}' is open read-only")
        batch = WriteBatch(raw_mode=True)
        put = batch.put
        prefixes: dict[tuple[int, int], bytes] = {}
        for tid, p, off, (k, v, ts, h) in appends:
            prefix = prefixes.get((tid, p))
            if prefix is None:
                prefix = prefixes[(tid, p)] = b"L" + _tp(tid, p)
            put(prefix + off.to_bytes(8, "big"), _pack((ts, k, v, h)))
        for (tid, p), end in ends.items():
            put(b"E" + _tp(tid, p), end.to_bytes(8, "big"))
        for (group, topic, p), position in offsets.items():
            tid = self.meta[topic].id
            put(b"O" + group.encode() + b"\0" + _tp(tid, p), position.to_bytes(8, "big"))
        for topic, meta in new_topics.items():
            put(b"T" + topic.encode(), _pack((meta.id, meta.partitions)))
        for (group, task), raw in progress.items():
            put(b"P" + group.encode() + b"\0" + task.encode(), raw)
        for write in state:
            self.column_family(write.store)
            handle = self._families[write.store][1]
            for key, value in write.changes:
                if value is None:
                    batch.delete(key, handle)
                else:
                    put(key, value, handle)
        self._write(batch)

    def _purge(self, below: dict[tuple[int, int], int]) -> None:
        """Delete consumed internal records: a range tombstone per partition, and its new
        first offset (`S`), so that reads from below it start there."""
        batch = WriteBatch(raw_mode=True)
        moved = {slot: off for slot, off in below.items() if off > self.starts.get(slot, 0)}
        for (tid, p), off in moved.items():
            prefix = b"L" + _tp(tid, p)
            batch.delete_range(prefix + bytes(8), prefix + off.to_bytes(8, "big"))
            batch.put(b"S" + _tp(tid, p), off.to_bytes(8, "big"))
        if moved:
            self._write(batch)
            self.starts.update(moved)

    def _first(self, topic_id: int, partition: int) -> int:
        return self.starts.get((topic_id, partition), 0)

    def _read(self, topic_id: int, partition: int, start: int, stop: int) -> list[RecordTuple]:
        start = max(start, self.starts.get((topic_id, partition), 0))
        first = b"L" + _tp(topic_id, partition) + start.to_bytes(8, "big")
        values = islice(self.db.values(from_key=first), stop - start)
        out: list[RecordTuple] = []
        append = out.append
        off = start
        for raw in values:
            ts, k, v, h = _unpack(raw)
            append((off, k, v, ts, h))
            off += 1
        return out

    def _write(self, batch: WriteBatch) -> None:
        """One atomic write. An I/O failure (a full disk) is a clear error; the write did
        not happen, and everything committed before it stays."""
        try:
            self.db.write(batch)
        except Exception as exc:
            raise _io_error(self.data_dir, exc) from None

    async def offset_for_time(self, tp: tuple[str, int], ts: int) -> int:
        """The first offset of `tp` whose record timestamp is >= ts (the end when none is),
        as Kafka's offsetsForTimes answers."""
        meta = self._meta(tp[0])
        start, end = self._first(meta.id, tp[1]), self.ends.get((meta.id, tp[1]), 0)
        prefix = b"L" + _tp(meta.id, tp[1])
        for off, raw in enumerate(self.db.values(from_key=prefix + start.to_bytes(8, "big")),
                                  start):
            if off >= end or _unpack(raw)[0] >= ts:
                return min(off, end)
        return end

    async def reset(self, group: str, positions: dict[tuple[str, int], int],
                    internal: list[str], stores: list[str]) -> None:
        """Move `group` to `positions`, empty its internal topics (records purged, its
        positions there at their ends), forget its tasks' progress and drop its stores, in
        one write: the next run starts from `positions` with no state."""
        batch = WriteBatch(raw_mode=True)
        moves = dict(positions)
        for topic in internal:
            meta = self._meta(topic)
            for p in range(meta.partitions):
                end = self.ends.get((meta.id, p), 0)
                moves[(topic, p)] = end
                prefix = b"L" + _tp(meta.id, p)
                batch.delete_range(prefix + bytes(8), prefix + end.to_bytes(8, "big"))
                batch.put(b"S" + _tp(meta.id, p), end.to_bytes(8, "big"))
                self.starts[(meta.id, p)] = end
        for (topic, p), off in moves.items():
            batch.put(b"O" + group.encode() + b"\0" + _tp(self._meta(topic).id, p),
                      off.to_bytes(8, "big"))
            self.offsets[(group, topic, p)] = off
        for g, task in [k for k in self.saved if k[0] == group]:
            batch.delete(b"P" + g.encode() + b"\0" + task.encode())
            del self.saved[(g, task)]
        self._write(batch)
        for store in stores:
            if self.has_column_family(store):
                view = self._families.pop(store, None)
                if view is not None:
                    view[0].close()
                self.db.drop_column_family(store)

    async def close(self) -> None:
        """Flush and close the database (column family views first, or the lock stays)."""
        try:
            for view, _ in self._families.values():
                view.close()
            self._families.clear()
            self.db.close()
        except Exception as exc:
            raise _io_error(self.data_dir, exc) from None
