"""Where a store's committed bytes live: a dict (tests) or a RocksDB column family."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Protocol

from rocksdict import Rdict


class Backend(Protocol):
    """Committed, ordered bytes of one store (all partitions, keys carry the partition).
    `durable`: it is the store's only committed copy, written atomically with the commit's
    outputs and positions (False: a local copy of a changelog, which must see every
    change)."""

    durable: bool

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]: ...

    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None: ...

    def estimated_keys(self) -> int: ...

    def size_bytes(self) -> int: ...


class DictBackend:
    """An in-memory backend with the same ordering as RocksDB (bytewise). It may share its
    dict with the in-memory log, which applies committed changes to it."""

    durable = True

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = {} if data is None else data

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def estimated_keys(self) -> int:
        """The number of keys (exact here)."""
        return len(self.data)

    def size_bytes(self) -> int:
        """Bytes of keys and values."""
        return sum(len(k) + len(v) for k, v in self.data.items())

    def scan(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        keys = sorted(self.data)
        for i in range(bisect.bisect_left(keys, start), len(keys)):
            key = keys[i]
            if end is not None and key >= end:
                return
            yield key, self.data[key]

    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in changes:
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value


class RocksBackend:
    """A store's RocksDB column family (writes go through the log's commit WriteBatch, or,
    for a local copy of a changelog, `durable=False`, LocalState's)."""

    def __init__(self, family: Rdict, durable: bool = True) -> None:
        self.family, self.durable = family, durable

    def get(self, key: bytes) -> bytes | None:
        value = self.family.get(key)
        return None if value is None else bytes(value)

    def estimated_keys(self) -> int:
        """RocksDB's estimate: overwrites not yet compacted count once each."""
        return self.family.property_int_value("rocksdb.estimate-num-keys") or 0

    def size_bytes(self) -> int:
        """Bytes in memtables and live SST data."""
        return sum(self.family.property_int_value(p) or 0 for p in (
            "rocksdb.cur-size-all-mem-tables", "rocksdb.estimate-live-data-size"))

    def scan(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.family.items(from_key=start):
            if not isinstance(key, bytes) or (end is not None and key >= end):
                return
            yield key, bytes(value)

    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None:
        raise RuntimeError("RocksDB stores are written by the log's atomic commit")
